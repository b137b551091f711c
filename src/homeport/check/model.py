"""Findings, the report, and the catalogue of rules ``homeport check`` applies.

Every rule has a stable ID, a severity, a one-line reason and a documentation page
(``docs/policy/<ID>.md``). The JSON form of a report is stable: keys and order are
documented in ``docs/check.md`` and only ever gain fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

DOC_BASE = "https://github.com/homeport-dev/homeport/blob/main/docs/policy/"
JSON_VERSION = 1

# Annotation prefix an object uses to opt out of one rule: the value must give a reason.
OPT_OUT_PREFIX = "check.homeport.dev/"


@dataclass(frozen=True)
class Rule:
    """One check rule.

    Attributes:
        id: Stable identifier, e.g. ``HP-P001``.
        severity: ``error`` or ``warning``.
        title: Short name.
        reason: One line: why the rule exists.
    """

    id: str
    severity: Severity
    title: str
    reason: str

    @property
    def doc_url(self) -> str:
        """Link to the rule's documentation page."""
        return f"{DOC_BASE}{self.id}.md"


_RULES = [
    # -- input and schemas ------------------------------------------------------------
    Rule(
        "HP-S001",
        "error",
        "invalid YAML",
        "The file must parse as YAML documents that are Kubernetes objects.",
    ),
    Rule(
        "HP-S002",
        "error",
        "schema violation",
        "The API server rejects objects that do not match the Kubernetes or CRD schema.",
    ),
    Rule(
        "HP-S003",
        "error",
        "unknown kind",
        "A kind with no Kubernetes schema and no CRD cannot be applied.",
    ),
    Rule(
        "HP-S004",
        "error",
        "CRD validation rule failed",
        "The API server evaluates the CRD's x-kubernetes-validations and rejects failures.",
    ),
    Rule(
        "HP-S005",
        "error",
        "Helm values rejected by the chart schema",
        "Helm refuses to render a chart whose values.schema.json rejects the values.",
    ),
    Rule(
        "HP-S006",
        "error",
        "duplicate object",
        "Two manifests for one object fight each other on every sync.",
    ),
    Rule(
        "HP-S007",
        "error",
        "invalid schedule",
        "The API server refuses a CronJob schedule that is not five cron fields or a descriptor.",
    ),
    Rule(
        "HP-S008",
        "error",
        "chart does not expand",
        "Argo CD reports ComparisonError when Helm cannot template the chart with its values.",
    ),
    # -- references -------------------------------------------------------------------
    Rule(
        "HP-R001",
        "error",
        "route backend missing",
        "An IngressRoute to a missing Service or port answers 404/502.",
    ),
    Rule(
        "HP-R002",
        "error",
        "middleware missing or not reachable",
        "Traefik drops a route whose middleware does not exist or is in another namespace "
        "without allowCrossNamespace.",
    ),
    Rule(
        "HP-R003",
        "error",
        "TLS certificate not available",
        "Traefik serves its self-signed default when the TLS secret is missing.",
    ),
    Rule(
        "HP-R004",
        "error",
        "issuer missing",
        "cert-manager never issues a Certificate whose issuer does not exist.",
    ),
    Rule(
        "HP-R005", "error", "secret missing", "A pod that references a missing Secret never starts."
    ),
    Rule(
        "HP-R006",
        "error",
        "Application path missing",
        "Argo CD reports ComparisonError for an Application whose path does not exist.",
    ),
    Rule(
        "HP-R007",
        "error",
        "custom resource synced before its CRD",
        "A custom resource in an earlier wave than the Application installing its CRD fails "
        "dry-run.",
    ),
    Rule(
        "HP-R008",
        "error",
        "namespace missing",
        "Objects in a namespace nobody creates fail to sync.",
    ),
    Rule(
        "HP-R009", "error", "duplicate host", "Two routes for one host split traffic unpredictably."
    ),
    Rule(
        "HP-R010",
        "error",
        "host outside the zone",
        "The wildcard certificate and DNS records cover only the managed zone.",
    ),
    # -- policy -----------------------------------------------------------------------
    Rule(
        "HP-P000",
        "error",
        "opt-out without a reason",
        "Every exception to a rule must say why, so reviewers can judge it.",
    ),
    Rule(
        "HP-P001",
        "error",
        "image not pinned",
        "An image without a tag, or tagged latest, changes under you.",
    ),
    Rule(
        "HP-P002",
        "warning",
        "requests and limits missing",
        "Without requests and limits one pod can starve the node.",
    ),
    Rule(
        "HP-P003",
        "warning",
        "probes missing",
        "Without liveness and readiness probes broken pods keep receiving traffic.",
    ),
    Rule(
        "HP-P004",
        "error",
        "may run as root",
        "runAsNonRoot keeps a container escape from starting as root.",
    ),
    Rule(
        "HP-P005",
        "warning",
        "writable root filesystem",
        "A read-only root filesystem stops attackers from dropping tools.",
    ),
    Rule(
        "HP-P006",
        "error",
        "capabilities not dropped",
        "Containers need no Linux capabilities; drop ALL.",
    ),
    Rule(
        "HP-P007",
        "error",
        "privilege escalation allowed",
        "allowPrivilegeEscalation: false blocks setuid escalation.",
    ),
    Rule(
        "HP-P008",
        "error",
        "host namespaces or hostPath",
        "hostPath, hostNetwork and hostPID give a pod the node.",
    ),
    Rule(
        "HP-P009",
        "warning",
        "no PodDisruptionBudget",
        "Several replicas without a PodDisruptionBudget can all be evicted at once.",
    ),
    Rule(
        "HP-P010",
        "error",
        "plaintext Secret",
        "Secrets in Git must be sealed; a plain Secret leaks its values.",
    ),
    Rule(
        "HP-P011",
        "warning",
        "namespace without Pod Security labels",
        "Pod Security admission enforces nothing in an unlabelled namespace.",
    ),
    Rule(
        "HP-P012",
        "warning",
        "namespace without NetworkPolicy",
        "Without a NetworkPolicy every pod may talk to every other pod.",
    ),
    Rule(
        "HP-P013",
        "error",
        "endpoint blocked by NetworkPolicy",
        "Argo CD cannot clone a Git server its namespace's egress policies block, and the "
        "fix cannot arrive through Git; a blocked DDNS ping URL never reports.",
    ),
]
RULES: dict[str, Rule] = {r.id: r for r in _RULES}


@dataclass(frozen=True)
class ObjectRef:
    """Which object a finding is about."""

    kind: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        if not self.kind:
            return ""
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


@dataclass(frozen=True)
class Finding:
    """One problem found in the tree.

    Attributes:
        rule_id: The rule's ID.
        severity: ``error`` or ``warning``.
        file: Path relative to the checked directory, with ``/`` separators.
        line: 1-based line (of the field when known, else of the object), 0 if unknown.
        object: The object the finding is about.
        message: What is wrong.
        doc_url: Link to the rule's documentation.
        field: Dotted path of the field, when the finding is about one field.
    """

    rule_id: str
    severity: Severity
    file: str
    line: int
    object: ObjectRef
    message: str
    doc_url: str
    field: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the stable JSON form of the finding."""
        return {
            "rule": self.rule_id,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "object": {
                "kind": self.object.kind,
                "namespace": self.object.namespace,
                "name": self.object.name,
            },
            "field": self.field,
            "message": self.message,
            "doc": self.doc_url,
        }


def make_finding(
    rule_id: str, file: str, line: int, ref: ObjectRef, message: str, field_path: str = ""
) -> Finding:
    """Build a finding with the severity and link of its rule."""
    rule = RULES[rule_id]
    return Finding(rule_id, rule.severity, file, line, ref, message, rule.doc_url, field_path)


@dataclass
class CheckReport:
    """The result of checking one tree.

    Attributes:
        root: The checked directory as given.
        findings: Every finding, sorted by file, line and rule.
        objects: Number of Kubernetes objects checked.
        files: Number of YAML files read.
        notes: Things the check could not do (e.g. a CEL rule it cannot evaluate).
    """

    root: str
    findings: list[Finding] = field(default_factory=list)
    objects: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity error."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity warning."""
        return [f for f in self.findings if f.severity == "warning"]

    def exit_code(self, strict: bool = False) -> int:
        """Return 1 when there are errors (or warnings with ``strict``), else 0."""
        if self.errors or (strict and self.warnings):
            return 1
        return 0

    def to_json(self) -> dict[str, Any]:
        """Return the stable JSON form of the report (see docs/check.md)."""
        return {
            "version": JSON_VERSION,
            "root": self.root,
            "summary": {
                "files": self.files,
                "objects": self.objects,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "findings": [f.to_json() for f in self.findings],
        }

    def dumps(self) -> str:
        """Return the JSON form as deterministic text."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"
