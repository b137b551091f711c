"""Apply sets of objects with server-side apply, in an order the API server accepts.

CRDs go first and are waited for (their kinds must be served before any custom
resource is sent), then namespaces, then the kinds others depend on, and admission
webhooks last (a webhook whose service is not running yet would reject everything
after it). Each object is reported as created, configured or unchanged: an apply that
changes nothing leaves the object's content as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from homeport import bundle, yamlio
from homeport.cluster.kube import Kube, Obj, identity, ref
from homeport.errors import UsageError
from homeport.versions import CRD_FOLDERS

CRD_API = "apiextensions.k8s.io/v1"

# Kinds others depend on come first (the order Helm and Argo CD use, trimmed).
_KIND_ORDER = [
    "CustomResourceDefinition",
    "Namespace",
    "PriorityClass",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Deployment",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "NetworkPolicy",
    "APIService",
]
_LAST = (
    "AppProject",
    "Application",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)


def kind_rank(obj: Obj) -> int:
    """Position of an object's kind in the apply order (unknown kinds in the middle)."""
    kind = str(obj.get("kind", ""))
    if kind in _KIND_ORDER:
        return _KIND_ORDER.index(kind)
    if kind in _LAST:
        return len(_KIND_ORDER) + 1 + _LAST.index(kind)
    return len(_KIND_ORDER)


def order_objects(objs: Iterable[Obj]) -> list[Obj]:
    """Sort objects into apply order; stable, so equal kinds keep their given order."""
    return sorted(objs, key=kind_rank)


def dedupe(objs: Iterable[Obj]) -> list[Obj]:
    """Keep one object per identity, the last given winning (later sources override)."""
    out: dict[tuple[str, str, str, str], Obj] = {}
    for o in objs:
        key = identity(o)
        out.pop(key, None)
        out[key] = o
    return list(out.values())


def load_manifest_text(text: str, source: str) -> list[Obj]:
    """Parse a multi-document manifest; ``List`` kinds are flattened.

    Raises:
        UsageError: The text is not YAML or a document is not a Kubernetes object.
    """
    out: list[Obj] = []
    try:
        docs = list(yamlio.load_all(text))
    except Exception as exc:  # PyYAML raises several error types
        raise UsageError(f"{source}: not valid YAML: {exc}") from None
    for doc in docs:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "List"
            and isinstance(doc.get("items"), list)
        ):
            docs.extend(doc["items"])
            continue
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise UsageError(f"{source}: a document without apiVersion/kind")
        if not (doc.get("metadata") or {}).get("name"):
            raise UsageError(f"{source}: {doc.get('kind')} without metadata.name")
        out.append(doc)
    return out


def load_manifest(path: Path) -> list[Obj]:
    """Read and parse a manifest file (see :func:`load_manifest_text`)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    return load_manifest_text(text, str(path))


def crd_dir() -> Path | None:
    """The directory of pinned upstream CRD folders given by ``$HOMEPORT_CRD_DIR``, or None."""
    env = os.environ.get("HOMEPORT_CRD_DIR")
    return Path(env) if env else None


def pinned_crds(folders: Iterable[str] | None = None) -> list[Obj]:
    """Every CRD of the pinned component versions, in a stable order.

    Read from ``$HOMEPORT_CRD_DIR`` when it is set, else from the bundle the package
    carries (:mod:`homeport.bundle`).

    Args:
        folders: Keys of :data:`homeport.versions.CRD_FOLDERS` to include (default: all).

    Raises:
        UsageError: A folder is missing.
    """
    base = crd_dir()
    out: list[Obj] = []
    for key in folders if folders is not None else sorted(CRD_FOLDERS):
        if base is None:
            out += _bundled_crds(key)
            continue
        d = base / CRD_FOLDERS[key]
        if not d.is_dir():
            raise UsageError(f"{d}: CRD folder for {key} missing (HOMEPORT_CRD_DIR)")
        for f in sorted(d.glob("*.yaml")):
            out += [o for o in load_manifest(f) if o.get("kind") == "CustomResourceDefinition"]
    return out


def _bundled_crds(key: str) -> list[Obj]:
    f = bundle.crd_file(key)
    if f is None:
        raise UsageError(
            f"this homeport carries no CRDs for {key} ({CRD_FOLDERS[key]}): reinstall it, "
            "or set HOMEPORT_CRD_DIR to the pinned CRD folders"
        )
    docs = bundle.read_json_gz(f)
    return [o for o in docs if isinstance(o, dict) and o.get("kind") == "CustomResourceDefinition"]


@dataclass
class ApplyResult:
    """What an apply did.

    Attributes:
        created: Objects that did not exist.
        configured: Objects the apply changed.
        unchanged: Objects already as wanted.
    """

    created: list[str] = field(default_factory=list)
    configured: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was created or changed."""
        return bool(self.created or self.configured)

    @property
    def total(self) -> int:
        """Number of objects applied."""
        return len(self.created) + len(self.configured) + len(self.unchanged)

    def extend(self, other: ApplyResult) -> None:
        """Add another result's lists to this one."""
        self.created += other.created
        self.configured += other.configured
        self.unchanged += other.unchanged

    def summary(self) -> str:
        """One line: ``N created, N configured, N unchanged``."""
        c, u = len(self.created), len(self.configured)
        return f"{c} created, {u} configured, {len(self.unchanged)} unchanged"


def apply_objects(
    kube: Kube,
    objs: Iterable[Obj],
    *,
    dry_run: bool = False,
    create_namespaces: bool = True,
    progress: Callable[[str, str], None] | None = None,
) -> ApplyResult:
    """Server-side apply objects in dependency order and report what changed.

    CRDs among the objects are applied first and waited for until established. With
    ``dry_run`` the server validates and admits every object without storing it; custom
    resources whose CRD is not installed yet are then only checked for their CRD being in
    the set.

    Args:
        kube: The connection.
        objs: The objects.
        dry_run: Validate only.
        create_namespaces: Create namespaces objects refer to when they do not exist
            (Argo CD creates them with ``CreateNamespace=true``; a direct apply must).
        progress: Called with (action, object ref) after each object.

    Returns:
        What was created, changed and left alone.

    Raises:
        ClusterError: The server rejected an object (the message names it).
    """
    ordered = order_objects(dedupe(objs))
    result = ApplyResult()
    crds = [o for o in ordered if o.get("kind") == "CustomResourceDefinition"]
    rest = [o for o in ordered if o.get("kind") != "CustomResourceDefinition"]
    # In a dry run nothing is stored, so objects whose CRD or namespace is only being
    # created in this same run cannot be sent; they are reported as "created" unsent.
    pending_kinds: set[tuple[str, str]] = set()
    missing_ns: set[str] = set()
    if crds:
        result.extend(_apply_each(kube, crds, dry_run, progress, lambda o: False))
        if not dry_run:
            kube.wait_established([o["metadata"]["name"] for o in crds])
        else:
            for c in crds:
                spec = c.get("spec") or {}
                kind = str((spec.get("names") or {}).get("kind"))
                for v in spec.get("versions") or []:
                    pending_kinds.add((f"{spec.get('group')}/{v.get('name')}", kind))
    namespaces = {str((o.get("metadata") or {}).get("namespace") or "") for o in rest} - {""}
    namespaces |= {o["metadata"]["name"] for o in rest if o.get("kind") == "Namespace"}
    for ns in sorted(namespaces):
        if kube.get("v1", "Namespace", ns) is None:
            missing_ns.add(ns)
    if create_namespaces:
        wanted = {o["metadata"]["name"] for o in rest if o.get("kind") == "Namespace"}
        extra = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in sorted(missing_ns - wanted)
        ]
        rest = order_objects(extra + rest)

    def unsendable(o: Obj) -> bool:
        if not dry_run:
            return False
        if str((o.get("metadata") or {}).get("namespace") or "") in missing_ns:
            return True
        key = (str(o.get("apiVersion")), str(o.get("kind")))
        return key in pending_kinds and kube.resource_type(*key) is None

    result.extend(_apply_each(kube, rest, dry_run, progress, unsendable))
    return result


def _apply_each(
    kube: Kube,
    objs: list[Obj],
    dry_run: bool,
    progress: Callable[[str, str], None] | None,
    unsendable: Callable[[Obj], bool],
) -> ApplyResult:
    result = ApplyResult()
    for o in objs:
        md = o.get("metadata") or {}
        name = ref(o)
        if unsendable(o):
            result.created.append(name)
            if progress:
                progress("created", name)
            continue
        before = kube.get(
            str(o["apiVersion"]), str(o["kind"]), str(md["name"]), md.get("namespace")
        )
        after = kube.apply(o, dry_run=dry_run)
        if before is None:
            action = "created"
            result.created.append(name)
        elif _differs(before, after):
            action = "configured"
            result.configured.append(name)
        else:
            action = "unchanged"
            result.unchanged.append(name)
        if progress:
            progress(action, name)
    return result


def _comparable(obj: Obj) -> Obj:
    md = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("managedFields", "resourceVersion", "generation")
    }
    return {**obj, "metadata": md}


def _differs(before: Obj, after: Obj) -> bool:
    # Content, not resourceVersion or generation: the API server rewrites some objects
    # on a re-apply that changes nothing in them (a PVC once; a NetworkPolicy with
    # `podSelector: {}` every time, bumping its generation), and a dry run never writes.
    return _comparable(before) != _comparable(after)
