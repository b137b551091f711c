"""The shapes platform modules return, and small builders they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeport.versions import Chart
from homeport.wellknown import (
    ARGOCD_NAMESPACE,
)

Obj = dict[str, Any]

# Sync waves of child Applications. Argo CD waits for each wave to be Healthy before the
# next one (the Application health check is installed in argocd-cm), so custom resources
# never sync before their CRDs and controllers.
WAVE_NAMESPACES = -10
WAVE_ARGOCD = -9
WAVE_SEALED_SECRETS = -8
WAVE_SECRETS = -7
WAVE_CONTROLLERS = -6  # cert-manager, traefik, cloudnative-pg, kube-prometheus-stack
WAVE_CONFIG = -5  # issuers, certificate, middlewares, database cluster, rules
WAVE_SERVICES = -4  # authentik, ddns
WAVE_SSO = -3  # forward-auth middleware and protected platform routes
WAVE_APPS = 0  # demo apps and user apps

ARGOCD_NS = ARGOCD_NAMESPACE

SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
# Objects that hold data: Argo CD neither prunes them when they leave Git (an app
# removed, a component disabled, a rename) nor deletes them with their Application.
KEEP_SYNC_OPTIONS = "Prune=false,Delete=false"


def keep(obj: Obj) -> Obj:
    """Mark an object that holds data so Argo CD never prunes or deletes it.

    Args:
        obj: The object (changed in place).

    Returns:
        The same object, annotated with ``Prune=false,Delete=false``.
    """
    md = obj.setdefault("metadata", {})
    md["annotations"] = {
        **(md.get("annotations") or {}),
        SYNC_OPTIONS_ANNOTATION: KEEP_SYNC_OPTIONS,
    }
    return obj


@dataclass(frozen=True)
class NamespaceSpec:
    """A namespace a component needs, with its Pod Security level and network allows.

    Attributes:
        name: Namespace name.
        pod_security: Pod Security Standards level enforced (restricted, baseline, privileged).
        policies: NetworkPolicies beyond the default deny (built by :func:`netpol`).
        keep: The namespace holds data (volumes, a database): Argo CD never prunes or
            deletes it (see :func:`keep`), so removing its component leaves the data.
    """

    name: str
    pod_security: str = "restricted"
    policies: tuple[Obj, ...] = ()
    keep: bool = False


@dataclass
class Component:
    """One Argo CD Application of the platform.

    Attributes:
        name: Application name; also the folder ``components/<name>/`` of its manifests.
        namespace: Destination namespace.
        wave: Sync wave of the Application inside the root app.
        objects: Plain manifests synced from ``components/<name>/``.
        chart: Helm chart installed by the Application (then ``objects`` must be empty).
        values: Helm values for the chart (``valuesObject``).
        release: Helm release name (default: the Application name).
        server_side: Use server-side apply (large CRDs).
        source: Explicit Argo CD source (Argo CD's own install) instead of chart/objects.
        ignore_differences: ``spec.ignoreDifferences`` entries.
        namespaces: Namespaces this component needs (rendered by the namespaces Application).
        description: One line shown in the tree's README and ``homeport status``.
        skip_dry_run: Add SkipDryRunOnMissingResource (custom resources whose CRD comes
            from an earlier wave).
        extra_sync_options: More Argo CD sync options.
        per_namespace_files: Write one multi-document file per namespace instead of one
            file per object (used for the namespaces Application).
    """

    name: str
    namespace: str
    wave: int
    objects: list[Obj] = field(default_factory=list)
    chart: Chart | None = None
    values: Obj | None = None
    release: str | None = None
    server_side: bool = False
    source: Obj | None = None
    ignore_differences: list[Obj] = field(default_factory=list)
    namespaces: list[NamespaceSpec] = field(default_factory=list)
    description: str = ""
    skip_dry_run: bool = False
    extra_sync_options: list[str] = field(default_factory=list)
    per_namespace_files: bool = False


def meta(name: str, namespace: str | None = None, **labels: str) -> Obj:
    """Build object metadata with homeport's standard labels.

    Args:
        name: Object name.
        namespace: Namespace, for namespaced objects.
        **labels: Extra labels (``app_kubernetes_io_name`` style keys are not rewritten).

    Returns:
        The metadata mapping.
    """
    md: Obj = {"name": name}
    if namespace is not None:
        md["namespace"] = namespace
    lab = {"app.kubernetes.io/managed-by": "homeport"}
    lab.update(labels)
    md["labels"] = dict(sorted(lab.items()))
    return md


def restricted_security_context(uid: int = 65532) -> tuple[Obj, Obj]:
    """Return (pod, container) security contexts that pass Pod Security "restricted".

    Args:
        uid: Non-root user the container runs as.

    Returns:
        The pod-level and container-level security contexts.
    """
    pod = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    return pod, container
