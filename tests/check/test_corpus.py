"""A corpus of broken trees: each case breaks one thing and must be caught by the right
rule, in the right file, at the right line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homeport.check import RULES, check_tree

from .trees import ZONE, app, base_tree, container, deny_all, line_of, namespace, web, write_tree

Tree = dict[str, list[dict[str, Any]]]

WEB = "components/web/web.yaml"
CFG = "components/config"


@dataclass
class Case:
    id: str
    mutate: Callable[[Tree], None]
    rule: str
    file: str
    needle: str  # text on the expected line (first occurrence)
    after: str = ""  # search for needle only after the line holding this text


def _set(fn: Callable[[Tree], Any]) -> Callable[[Tree], None]:
    def run(t: Tree) -> None:
        fn(t)

    return run


def _cnpg(t: Tree, db_name: str) -> None:
    t["apps/cnpg.yaml"] = [
        app("cnpg", -6, "cnpg-system", chart=("cloudnative-pg", "0.29.0"), create_ns=True)
    ]
    t["components/web/db.yaml"] = [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Database",
            "metadata": {"name": "app", "namespace": "web"},
            "spec": {"name": db_name, "owner": "app", "cluster": {"name": "pg"}},
        }
    ]


def cronjob(t: Tree, schedule: str) -> dict[str, Any]:
    """A CronJob running the web pod's template on ``schedule``."""
    pod = web(t, "Deployment")["spec"]["template"]
    spec = {**pod["spec"], "restartPolicy": "OnFailure"}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "web"},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {"spec": {"template": {**pod, "spec": spec}}},
        },
    }


def _cnpg_backup(t: Tree) -> None:
    t["apps/cnpg.yaml"] = [
        app("cnpg", -6, "cnpg-system", chart=("cloudnative-pg", "0.29.0"), create_ns=True)
    ]
    cred = {"name": "backup-s3", "key": "ACCESS_KEY_ID"}
    t["components/web/pg.yaml"] = [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "pg", "namespace": "web"},
            "spec": {
                "instances": 1,
                "storage": {"size": "1Gi"},
                "backup": {
                    "barmanObjectStore": {
                        "destinationPath": "s3://bucket/pg",
                        "s3Credentials": {"accessKeyId": cred, "secretAccessKey": cred},
                    }
                },
            },
        }
    ]


def _lan_git(t: Tree) -> None:
    # argocd denies egress except the public internet; the Git server is on the LAN.
    t["components/namespaces/namespaces.yaml"] += [
        deny_all("argocd"),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-internet", "namespace": "argocd"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["192.168.0.0/16"]}}]}
                ],
            },
        },
    ]
    t["root-app.yaml"][0]["spec"]["source"]["repoURL"] = "http://192.168.7.2:3000/home.git"


CASES = [
    # -- YAML and schemas ---------------------------------------------------------------
    Case(
        "unknown-field",
        _set(lambda t: container(t).update({"bogusField": 1})),
        "HP-S002",
        WEB,
        "bogusField",
    ),
    Case(
        "wrong-type",
        _set(lambda t: web(t, "Deployment")["spec"].update({"replicas": "two"})),
        "HP-S002",
        WEB,
        "replicas: two",
    ),
    Case(
        "missing-required",
        _set(lambda t: web(t, "Deployment")["spec"].pop("selector")),
        "HP-S002",
        WEB,
        "spec:",
        after="kind: Deployment",
    ),
    Case(
        "bad-enum-crd",
        _set(lambda t: web(t, "IngressRoute")["spec"]["routes"][0].update({"kind": "Nope"})),
        "HP-S002",
        WEB,
        "kind: Nope",
    ),
    Case(
        "crd-unknown-field",
        _set(lambda t: web(t, "IngressRoute")["spec"].update({"bogus": True})),
        "HP-S002",
        WEB,
        "bogus: true",
    ),
    Case(
        "metadata-unknown-field",
        _set(lambda t: web(t, "Service")["metadata"].update({"nam": "x"})),
        "HP-S002",
        WEB,
        "nam: x",
    ),
    Case(
        "unknown-kind",
        _set(
            lambda t: t[WEB].append(
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w", "namespace": "web"},
                }
            )
        ),
        "HP-S003",
        WEB,
        "kind: Widget",
    ),
    Case(
        "cel-rule",
        _set(lambda t: _cnpg(t, "postgres")),
        "HP-S004",
        "components/web/db.yaml",
        "name: postgres",
    ),
    Case(
        "helm-values",
        _set(
            lambda t: t["apps/traefik.yaml"][0]["spec"]["source"]["helm"]["valuesObject"].update(
                {"notAValue": 1}
            )
        ),
        "HP-S005",
        "apps/traefik.yaml",
        "notAValue",
    ),
    Case(
        "duplicate-object",
        _set(lambda t: t[WEB].append(dict(web(t, "Service")))),
        "HP-S006",
        WEB,
        "apiVersion: v1",
        after="kind: IngressRoute",
    ),
    Case(
        "cronjob-six-fields",
        _set(lambda t: t[WEB].append(cronjob(t, "0 0 2 * * *"))),
        "HP-S007",
        WEB,
        'schedule: "0 0 2 * * *"',
    ),
    # -- references ---------------------------------------------------------------------
    Case(
        "route-service-missing",
        _set(
            lambda t: web(t, "IngressRoute")["spec"]["routes"][0]["services"][0].update(
                {"name": "nope"}
            )
        ),
        "HP-R001",
        WEB,
        "name: nope",
    ),
    Case(
        "route-port-missing",
        _set(
            lambda t: web(t, "IngressRoute")["spec"]["routes"][0]["services"][0].update(
                {"port": 8443}
            )
        ),
        "HP-R001",
        WEB,
        "port: 8443",
    ),
    Case(
        "middleware-missing",
        _set(
            lambda t: web(t, "IngressRoute")["spec"]["routes"][0]["middlewares"][0].update(
                {"name": "gone"}
            )
        ),
        "HP-R002",
        WEB,
        "name: gone",
    ),
    Case(
        "middleware-cross-ns",
        _set(
            lambda t: t["apps/traefik.yaml"][0]["spec"]["source"]["helm"]["valuesObject"][
                "providers"
            ]["kubernetesCRD"].update({"allowCrossNamespace": False})
        ),
        "HP-R002",
        WEB,
        "name: security-headers",
    ),
    Case(
        "tls-secret-missing",
        _set(lambda t: web(t, "IngressRoute")["spec"].update({"tls": {"secretName": "web-tls"}})),
        "HP-R003",
        WEB,
        "secretName: web-tls",
    ),
    Case(
        "tls-no-default-store",
        _set(
            lambda t: t["apps/traefik.yaml"][0]["spec"]["source"]["helm"]["valuesObject"].pop(
                "tlsStore"
            )
        ),
        "HP-R003",
        WEB,
        "tls: {}",
    ),
    Case(
        "issuer-missing",
        _set(
            lambda t: t[f"{CFG}/certificate.yaml"][0]["spec"]["issuerRef"].update(
                {"name": "letsencrypt-prod"}
            )
        ),
        "HP-R004",
        f"{CFG}/certificate.yaml",
        "name: letsencrypt-prod",
    ),
    Case(
        "secret-envfrom-missing",
        _set(lambda t: t.pop("secrets/web/web-env.yaml")),
        "HP-R005",
        WEB,
        "name: web-env",
    ),
    Case(
        "secret-keyref-missing",
        _set(
            lambda t: container(t).update(
                {
                    "env": [
                        {
                            "name": "TOKEN",
                            "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}},
                        }
                    ]
                }
            )
        ),
        "HP-R005",
        WEB,
        "name: other",
    ),
    Case(
        "secret-volume-missing",
        _set(
            lambda t: web(t, "Deployment")["spec"]["template"]["spec"].update(
                {"volumes": [{"name": "certs", "secret": {"secretName": "certs-missing"}}]}
            )
        ),
        "HP-R005",
        WEB,
        "secretName: certs-missing",
    ),
    Case(
        "secret-cnpg-backup-credentials-missing",
        _set(lambda t: _cnpg_backup(t)),
        "HP-R005",
        "components/web/pg.yaml",
        "name: backup-s3",
    ),
    Case(
        "secret-in-chart-values-missing",
        _set(
            lambda t: t["apps/traefik.yaml"][0]["spec"]["source"]["helm"]["valuesObject"].update(
                {
                    "env": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}
                    ]
                }
            )
        ),
        "HP-R005",
        "apps/traefik.yaml",
        "name: nope",
    ),
    Case(
        "secret-alertmanager-mount-missing",
        _set(
            lambda t: t.update(
                {
                    "apps/monitoring.yaml": [
                        app(
                            "monitoring",
                            -5,
                            "web",
                            chart=("kube-prometheus-stack", "88.2.0"),
                            values={
                                "alertmanager": {"alertmanagerSpec": {"secrets": ["smtp-login"]}},
                                "grafana": {"admin": {"existingSecret": "grafana-login"}},
                            },
                        )
                    ]
                }
            )
        ),
        "HP-R005",
        "apps/monitoring.yaml",
        "- smtp-login",
    ),
    Case(
        "issuer-token-missing",
        _set(lambda t: t.pop("secrets/cert-manager/cloudflare-api-token.yaml")),
        "HP-R005",
        f"{CFG}/clusterissuer.yaml",
        "name: cloudflare-api-token",
    ),
    Case(
        "app-path-missing",
        _set(
            lambda t: t["apps/web.yaml"][0]["spec"]["source"].update(
                {"path": "cluster/components/webb"}
            )
        ),
        "HP-R006",
        "apps/web.yaml",
        "path: cluster/components/webb",
    ),
    Case(
        "app-path-outside-prefix",
        _set(
            lambda t: t["apps/web.yaml"][0]["spec"]["source"].update(
                {"path": "other/components/web"}
            )
        ),
        "HP-R006",
        "apps/web.yaml",
        "path: other/components/web",
    ),
    Case(
        "cr-before-crd",
        _set(
            lambda t: t["apps/config.yaml"][0]["metadata"]["annotations"].update(
                {"argocd.argoproj.io/sync-wave": "-6"}
            )
        ),
        "HP-R007",
        f"{CFG}/middleware.yaml",
        "apiVersion",
    ),
    Case(
        "crd-not-installed",
        _set(lambda t: t.pop("apps/cert-manager.yaml")),
        "HP-R007",
        f"{CFG}/certificate.yaml",
        "apiVersion",
    ),
    Case(
        "namespace-missing",
        _set(lambda t: web(t, "Service")["metadata"].update({"namespace": "ghost"})),
        "HP-R008",
        WEB,
        "namespace: ghost",
    ),
    Case(
        "duplicate-host",
        _set(
            lambda t: t[WEB].append(
                {**web(t, "IngressRoute"), "metadata": {"name": "web2", "namespace": "web"}}
            )
        ),
        "HP-R009",
        WEB,
        "match:",
        after="name: web2",
    ),
    Case(
        "host-outside-zone",
        _set(
            lambda t: web(t, "IngressRoute")["spec"]["routes"][0].update(
                {"match": "Host(`web.other.org`)"}
            )
        ),
        "HP-R010",
        WEB,
        "web.other.org",
    ),
    # -- policy -------------------------------------------------------------------------
    Case(
        "image-latest",
        _set(lambda t: container(t).update({"image": "nginx:latest"})),
        "HP-P001",
        WEB,
        "nginx:latest",
    ),
    Case(
        "image-untagged",
        _set(lambda t: container(t).update({"image": "nginx"})),
        "HP-P001",
        WEB,
        "image: nginx",
    ),
    Case(
        "no-limits",
        _set(lambda t: container(t)["resources"].pop("limits")),
        "HP-P002",
        WEB,
        "resources:",
    ),
    Case(
        "no-probes",
        _set(lambda t: container(t).pop("readinessProbe")),
        "HP-P003",
        WEB,
        "- name: web",
    ),
    Case(
        "root",
        _set(lambda t: container(t)["securityContext"].update({"runAsNonRoot": False})),
        "HP-P004",
        WEB,
        "securityContext:",
        after="image:",
    ),
    Case(
        "writable-rootfs",
        _set(lambda t: container(t)["securityContext"].pop("readOnlyRootFilesystem")),
        "HP-P005",
        WEB,
        "securityContext:",
        after="image:",
    ),
    Case(
        "caps",
        _set(lambda t: container(t)["securityContext"].pop("capabilities")),
        "HP-P006",
        WEB,
        "securityContext:",
        after="image:",
    ),
    Case(
        "escalation",
        _set(lambda t: container(t)["securityContext"].update({"allowPrivilegeEscalation": True})),
        "HP-P007",
        WEB,
        "securityContext:",
        after="image:",
    ),
    Case(
        "hostpath",
        _set(
            lambda t: web(t, "Deployment")["spec"]["template"]["spec"].update(
                {"volumes": [{"name": "h", "hostPath": {"path": "/etc"}}]}
            )
        ),
        "HP-P008",
        WEB,
        "hostPath:",
    ),
    Case(
        "hostnetwork",
        _set(
            lambda t: web(t, "Deployment")["spec"]["template"]["spec"].update({"hostNetwork": True})
        ),
        "HP-P008",
        WEB,
        "hostNetwork: true",
    ),
    Case(
        "hostpid",
        _set(lambda t: web(t, "Deployment")["spec"]["template"]["spec"].update({"hostPID": True})),
        "HP-P008",
        WEB,
        "hostPID: true",
    ),
    Case(
        "no-pdb",
        _set(lambda t: t[WEB].remove(web(t, "PodDisruptionBudget"))),
        "HP-P009",
        WEB,
        "replicas: 2",
    ),
    Case(
        "plain-secret",
        _set(
            lambda t: t[WEB].append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "leak", "namespace": "web"},
                    "stringData": {"password": "hunter2"},
                }
            )
        ),
        "HP-P010",
        WEB,
        "stringData:",
    ),
    Case(
        "no-psa-label",
        _set(
            lambda t: t["components/namespaces/namespaces.yaml"].__setitem__(
                2, {**namespace("web"), "metadata": {"name": "web"}}
            )
        ),
        "HP-P011",
        "components/namespaces/namespaces.yaml",
        "metadata:",
        after="name: cert-manager",
    ),
    Case(
        "no-netpol",
        _set(lambda t: t["components/namespaces/namespaces.yaml"].remove(deny_all("web"))),
        "HP-P012",
        "components/namespaces/namespaces.yaml",
        "apiVersion: v1",
        after="name: cert-manager",
    ),
    Case(
        "git-server-blocked-by-egress",
        _set(lambda t: _lan_git(t)),
        "HP-P013",
        "root-app.yaml",
        "repoURL",
    ),
    Case(
        "opt-out-without-reason",
        _set(
            lambda t: (
                web(t, "Deployment")["metadata"].update(
                    {"annotations": {"check.homeport.dev/HP-P009": " "}}
                )
                or t[WEB].remove(web(t, "PodDisruptionBudget"))
            )
        ),
        "HP-P000",
        WEB,
        "check.homeport.dev/HP-P009",
    ),
]


def test_every_rule_has_a_case_and_a_doc() -> None:
    from .test_charts import CHART_CASES

    covered = {c.rule for c in CASES} | {c.rule for c in CHART_CASES}
    assert covered == set(RULES) - {"HP-S001"}  # S001 has its own tests below
    docs = Path(__file__).resolve().parents[2] / "docs" / "policy"
    for rule in RULES.values():
        assert (docs / f"{rule.id}.md").is_file(), rule.id
        assert rule.doc_url.endswith(f"docs/policy/{rule.id}.md")


def test_base_tree_is_clean(tmp_path: Path) -> None:
    report = check_tree(write_tree(tmp_path, base_tree()))
    assert report.findings == []
    assert report.objects == 24
    assert report.exit_code() == 0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus(case: Case, tmp_path: Path) -> None:
    tree = base_tree()
    case.mutate(tree)
    root = write_tree(tmp_path, tree)
    start = line_of(root, case.file, case.after) if case.after else 1
    line = line_of(root, case.file, case.needle, start)
    report = check_tree(root)
    hits = [f for f in report.findings if f.rule_id == case.rule]
    assert hits, (
        f"{case.rule} not reported; got {[(f.rule_id, f.message) for f in report.findings]}"
    )
    assert any(f.file == case.file and f.line == line for f in hits), [
        (f.file, f.line, f.message) for f in hits
    ]
    hit = next(f for f in hits if f.file == case.file and f.line == line)
    assert hit.severity == RULES[case.rule].severity
    assert hit.doc_url == RULES[case.rule].doc_url
    assert report.exit_code(strict=True) == 1


def test_cronjob_schedules_five_fields_pass_six_fail(tmp_path: Path) -> None:
    """Negative control for HP-S007: five fields and descriptors pass, seconds do not."""
    for schedule, bad in (("0 2 * * *", False), ("@daily", False), ("0 0 2 * * *", True)):
        tree = base_tree()
        tree[WEB].append(cronjob(tree, schedule))
        root = write_tree(tmp_path / schedule.replace(" ", "_"), tree)
        rules = {f.rule_id for f in check_tree(root).findings}
        assert ("HP-S007" in rules) == bad, (schedule, rules)


def test_opt_out_with_reason_silences_the_rule(tmp_path: Path) -> None:
    tree = base_tree()
    dep = web(tree, "Deployment")
    dep["metadata"]["annotations"] = {
        "check.homeport.dev/HP-P009": "stateless cache, eviction is fine"
    }
    tree[WEB].remove(web(tree, "PodDisruptionBudget"))
    assert check_tree(write_tree(tmp_path, tree)).findings == []


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    root = write_tree(tmp_path, base_tree())
    (root / "components/web/broken.yaml").write_text(
        "kind: ConfigMap\nmetadata:\n  name: [unclosed\n"
    )
    (root / "components/web/dupkey.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"
    )
    report = check_tree(root)
    got = {(f.file, f.rule_id) for f in report.findings}
    assert ("components/web/broken.yaml", "HP-S001") in got
    dup = next(f for f in report.findings if f.file == "components/web/dupkey.yaml")
    assert dup.rule_id == "HP-S001" and dup.line == 5 and "duplicate key" in dup.message


def test_multi_document_lines(tmp_path: Path) -> None:
    tree = base_tree()
    container(tree)["bogusField"] = 1
    web(tree, "Service")["spec"]["bogus2"] = 2
    root = write_tree(tmp_path, tree)
    report = check_tree(root)
    lines = sorted(f.line for f in report.findings if f.rule_id == "HP-S002")
    assert lines == [line_of(root, WEB, "bogusField"), line_of(root, WEB, "bogus2")]


def test_crd_in_tree_makes_kind_known(tmp_path: Path) -> None:
    tree = base_tree()
    tree["components/web/crd.yaml"] = [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {
                    "kind": "Widget",
                    "plural": "widgets",
                    "singular": "widget",
                    "listKind": "WidgetList",
                },
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {"size": {"type": "integer", "default": 3}},
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self.size <= 10",
                                                "message": "size must be at most 10",
                                            }
                                        ],
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    ]
    tree["components/web/widget.yaml"] = [
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "web"},
            "spec": {},
        },
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "big", "namespace": "web"},
            "spec": {"size": 11},
        },
    ]
    report = check_tree(write_tree(tmp_path, tree))
    # The default (3) satisfies the rule for "w"; "big" fails it; no unknown-kind errors.
    assert [(f.rule_id, f.object.name, f.message) for f in report.findings] == [
        ("HP-S004", "big", "size must be at most 10")
    ]
    # The tree's CRD must not leak into the next check of another tree.
    other = tmp_path / "other"
    t2 = base_tree()
    t2["components/web/widget.yaml"] = tree["components/web/widget.yaml"][:1]
    assert [f.rule_id for f in check_tree(write_tree(other, t2)).findings] == ["HP-S003"]


def test_json_form_is_stable(tmp_path: Path) -> None:
    tree = base_tree()
    container(tree)["image"] = "nginx:latest"
    report = check_tree(write_tree(tmp_path, tree))
    data = report.to_json()
    assert list(data) == ["version", "root", "summary", "findings"]
    assert data["summary"] == {"files": 16, "objects": 24, "errors": 1, "warnings": 0}
    f = data["findings"][0]
    assert list(f) == ["rule", "severity", "file", "line", "object", "field", "message", "doc"]
    assert f["object"] == {"kind": "Deployment", "namespace": "web", "name": "web"}
    assert f["field"] == "spec.template.spec.containers.0.image"
    assert report.dumps() == check_tree(tmp_path).dumps()


def test_zone_taken_from_cluster_issuer(tmp_path: Path) -> None:
    tree = base_tree()
    web(tree, "IngressRoute")["spec"]["routes"][0]["match"] = (
        f"Host(`a.{ZONE}`) || Host(`b.{ZONE}`)"
    )
    assert check_tree(write_tree(tmp_path, tree)).findings == []


def test_yaml_1_1_scalars_read_as_kubernetes_reads_them(tmp_path: Path) -> None:
    # Kubernetes reads YAML 1.1: `yes` is a boolean there; such files take the PyYAML path.
    root = write_tree(tmp_path, base_tree())
    p = root / WEB
    text = p.read_text().replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes")
    assert "readOnlyRootFilesystem: yes" in text
    p.write_text(text)
    assert check_tree(root).findings == []
    # A string field given as `on` is a boolean to Kubernetes, hence a schema error.
    text = text.replace("name: http\n", "name: on\n", 1)
    p.write_text(text)
    report = check_tree(root)
    assert [(f.rule_id, f.line) for f in report.findings] == [
        ("HP-S002", line_of(root, WEB, "name: on"))
    ]
