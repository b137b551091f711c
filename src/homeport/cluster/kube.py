"""A small Kubernetes client over plain dicts, built on lightkube.

Every object homeport touches (its own, Argo CD's, cert-manager's, ...) is handled as a
plain JSON-like dict; the resource type (plural, namespaced) comes from the API server's
own discovery, so CRDs installed a moment ago work like built-in kinds. Writes are
server-side apply with the field manager ``homeport``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx2
from lightkube import ApiError, Client
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericNamespacedResource,
    create_api_info,
)
from lightkube.types import PatchType

from homeport.errors import ClusterError, UsageError

FIELD_MANAGER = "homeport"
_T = TypeVar("_T")
_RETRIES_429 = 5
Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    """What discovery says about one kind.

    Attributes:
        api_version: ``group/version`` (``v1`` for the core group).
        kind: The kind.
        plural: The URL name, e.g. ``applications``.
        namespaced: Whether objects live in a namespace.
    """

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        """API group; empty for the core group."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """API version inside the group."""
        return self.api_version.rpartition("/")[2]


def ref(obj: Obj) -> str:
    """A short, stable name for an object in messages: ``Kind namespace/name``."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{md.get('name')}"


def identity(obj: Obj) -> tuple[str, str, str, str]:
    """The key that names an object in a cluster: (group, kind, namespace, name)."""
    md = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (
        group,
        str(obj.get("kind", "")),
        str(md.get("namespace") or ""),
        str(md.get("name", "")),
    )


def load_kubeconfig(kubeconfig: Path | None = None, context: str | None = None) -> SingleConfig:
    """Resolve the cluster to talk to, as kubectl does.

    Args:
        kubeconfig: A kubeconfig file; default ``$KUBECONFIG``, then ``~/.kube/config``
            (or the in-cluster service account, for the backup CronJob).
        context: Context name; default the file's current context.

    Returns:
        The chosen cluster, user and namespace.

    Raises:
        UsageError: The file is missing or invalid, or the context does not exist.
    """
    try:
        if kubeconfig is not None:
            conf = KubeConfig.from_file(kubeconfig)
        elif os.environ.get("KUBECONFIG"):
            # Only the first file of a KUBECONFIG list; merged lists are rare for homeport users.
            conf = KubeConfig.from_file(os.environ["KUBECONFIG"].split(os.pathsep)[0])
        else:
            conf = KubeConfig.from_env()
    except (LightkubeConfigError, OSError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise UsageError(f"{where}: cannot load kubeconfig: {exc}") from None
    try:
        single = conf.get(context_name=context)
    except LightkubeConfigError as exc:
        raise UsageError(f"kubeconfig: {exc}") from None
    if single is None:
        raise UsageError(f"kubeconfig: context {context!r} not found")
    return single


def _api_error_message(exc: ApiError) -> str:
    status = exc.status
    return f"{status.code} {status.reason or ''}: {status.message or ''}".strip()


class Kube:
    """A connection to one API server.

    Attributes:
        server: The API server URL.
        context: The kubeconfig context name.
    """

    def __init__(self, config: SingleConfig, *, timeout: float = 30.0) -> None:
        self._config = config
        self.server = str(config.cluster.server)
        self.context = str(config.context_name)
        t = httpx2.Timeout(timeout)
        self._client = Client(config, field_manager=FIELD_MANAGER, timeout=t, trust_env=False)
        self._http = client_adapter.Client(
            config, client_adapter.ConnectionParams(timeout=t, trust_env=False)
        )
        self._groups: dict[str, dict[str, ResourceType]] = {}
        self._classes: dict[ResourceType, type[Any]] = {}

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()
        self._http.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    # error handling -------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> NoReturn:
        reason = str(exc) or type(exc).__name__
        raise ClusterError(
            f"cannot reach the Kubernetes API server at {self.server} "
            f"(context {self.context}): {reason}"
        ) from None

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        # 429 is the API server asking to come back (e.g. "storage is (re)initializing"
        # on the first list of a custom resource after a restart); client-go retries too.
        for attempt in range(_RETRIES_429 + 1):
            try:
                return fn()
            except ApiError as exc:
                if exc.status.code == 403:
                    raise ClusterError(f"{what}: permission denied: {exc.status.message}") from None
                if exc.status.code != 429 or attempt == _RETRIES_429:
                    raise
                time.sleep(min(1.0 * (attempt + 1), 5.0))
            except httpx2.TransportError as exc:
                self._unreachable(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def raw_get(self, path: str) -> Any:
        """GET a path of the API (discovery, ``/version``) and return the decoded JSON.

        Raises:
            ClusterError: The server is unreachable or answered with an error.
        """
        try:
            resp = self._http.get(path)
        except httpx2.TransportError as exc:
            self._unreachable(exc)
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise ClusterError(f"GET {path}: {resp.status_code} {resp.text[:200]}")
        return resp.json()

    def raw_post(self, path: str, body: Obj) -> Any:
        """POST a JSON body (used for access reviews) and return the decoded answer."""
        try:
            resp = self._http.post(path, json=body)
        except httpx2.TransportError as exc:
            self._unreachable(exc)
        if resp.status_code >= 400:
            raise ClusterError(f"POST {path}: {resp.status_code} {resp.text[:200]}")
        return resp.json()

    # discovery ------------------------------------------------------------------------
    def version(self) -> dict[str, str]:
        """The server's ``/version`` answer (``gitVersion``, ``major``, ``minor``, ...)."""
        data = self.raw_get("/version")
        if not isinstance(data, dict):
            raise ClusterError(
                f"{self.server}: /version gave no answer; is this a Kubernetes API server?"
            )
        return {k: str(v) for k, v in data.items()}

    def _discover(self, api_version: str, refresh: bool = False) -> dict[str, ResourceType]:
        if refresh or api_version not in self._groups:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            data = self.raw_get(path) or {}
            kinds: dict[str, ResourceType] = {}
            for r in data.get("resources", []):
                if "/" in r["name"]:
                    continue  # subresources such as status and scale
                kinds[r["kind"]] = ResourceType(
                    api_version, r["kind"], r["name"], bool(r["namespaced"])
                )
            self._groups[api_version] = kinds
        return self._groups[api_version]

    def resource_type(self, api_version: str, kind: str) -> ResourceType | None:
        """Look a kind up in discovery (fresh lookup once on a miss: CRDs come and go)."""
        rt = self._discover(api_version).get(kind)
        if rt is None:
            rt = self._discover(api_version, refresh=True).get(kind)
        return rt

    def require_type(self, api_version: str, kind: str) -> ResourceType:
        """Like :meth:`resource_type` but a clear error when the API server lacks the kind."""
        rt = self.resource_type(api_version, kind)
        if rt is None:
            raise ClusterError(
                f"the API server does not serve {kind} ({api_version}); is its CRD installed?"
            )
        return rt

    def _cls(self, rt: ResourceType) -> type[Any]:
        cls = self._classes.get(rt)
        if cls is None:
            base: type[Any] = GenericNamespacedResource if rt.namespaced else GenericGlobalResource
            # An unregistered class per type: lightkube's global registry would hand back its
            # typed models for built-in kinds, and homeport wants plain dicts everywhere.
            cls = type(
                rt.kind,
                (base,),
                {"_api_info": create_api_info(rt.group, rt.version, rt.kind, rt.plural)},
            )
            self._classes[rt] = cls
        return cls

    # objects --------------------------------------------------------------------------
    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        """Return one object, or ``None`` when it (or its kind) does not exist."""
        rt = self.resource_type(api_version, kind)
        if rt is None:
            return None
        cls = self._cls(rt)
        ns = namespace if rt.namespaced else None
        try:
            got = self._call(
                f"get {kind} {name}", lambda: self._client.get(cls, name, namespace=ns)
            )
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise ClusterError(f"get {kind} {name}: {_api_error_message(exc)}") from None
        return dict(got)

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        labels: dict[str, str | None] | None = None,
    ) -> list[Obj]:
        """List objects of a kind: in one namespace, or everywhere when ``namespace`` is None.

        A kind the server does not serve lists as empty (its CRD is not installed).
        A label value of ``None`` selects on the label's existence.
        """
        rt = self.resource_type(api_version, kind)
        if rt is None:
            return []
        cls = self._cls(rt)
        ns: str | None = (namespace or "*") if rt.namespaced else None
        sel: Any = labels or None

        def run() -> list[Obj]:
            items = [dict(o) for o in self._client.list(cls, namespace=ns, labels=sel)]
            for o in items:
                o.setdefault("apiVersion", api_version)
                o.setdefault("kind", kind)
            return items

        try:
            return self._call(f"list {rt.plural}", run)
        except ApiError as exc:
            raise ClusterError(f"list {rt.plural}: {_api_error_message(exc)}") from None

    def apply(
        self,
        obj: Obj,
        *,
        dry_run: bool = False,
        force: bool = True,
        field_manager: str = FIELD_MANAGER,
    ) -> Obj:
        """Server-side apply one object with field manager ``homeport``.

        Args:
            obj: The object (``apiVersion``, ``kind``, ``metadata.name`` at least).
            dry_run: Ask the server to validate and admit it without storing it.
            force: Take over fields another manager owns (what ``kubectl apply
                --server-side --force-conflicts`` does; bootstrap owns what it installs).
            field_manager: The field manager (``homeport``; tests act as controllers).

        Returns:
            The object as the server stored (or would store) it.

        Raises:
            ClusterError: The kind is unknown, or the server rejected the object
                (its message, e.g. a CEL rule, is in the error).
        """
        rt = self.require_type(str(obj.get("apiVersion")), str(obj.get("kind")))
        cls = self._cls(rt)
        md = obj.get("metadata") or {}
        ns = md.get("namespace") if rt.namespaced else None
        if rt.namespaced and not ns:
            raise ClusterError(f"{ref(obj)}: a namespaced object needs metadata.namespace")

        def run() -> Obj:
            out = self._client.patch(
                cls,
                md["name"],
                obj,
                namespace=ns,
                patch_type=PatchType.APPLY,
                field_manager=field_manager,
                force=force,
                dry_run=dry_run,
            )
            return dict(out)

        try:
            return self._call(f"apply {ref(obj)}", run)
        except ApiError as exc:
            raise ClusterError(f"apply {ref(obj)}: {_api_error_message(exc)}") from None

    def apply_status(self, obj: Obj, *, field_manager: str) -> Obj:
        """Server-side apply the ``status`` subresource, as a controller does.

        Args:
            obj: ``apiVersion``, ``kind``, ``metadata`` (name, namespace) and ``status``.
            field_manager: The controller's field manager name.

        Returns:
            The stored object.
        """
        rt = self.require_type(str(obj.get("apiVersion")), str(obj.get("kind")))
        md = obj.get("metadata") or {}
        base = "/api/v1" if rt.api_version == "v1" else f"/apis/{rt.api_version}"
        ns = f"/namespaces/{md['namespace']}" if rt.namespaced else ""
        path = f"{base}{ns}/{rt.plural}/{md['name']}/status"
        body = {k: obj[k] for k in ("apiVersion", "kind", "status")}
        body["metadata"] = md
        try:
            resp = self._http.patch(
                path,
                params={"fieldManager": field_manager, "force": "true"},
                content=json.dumps(body),  # JSON is YAML: apply patches take either
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
        except httpx2.TransportError as exc:
            self._unreachable(exc)
        if resp.status_code >= 400:
            raise ClusterError(f"apply status of {ref(obj)}: {resp.status_code} {resp.text[:300]}")
        out: Obj = resp.json()
        return out

    def can(self, verb: str, group: str, resource: str, namespace: str | None = None) -> bool:
        """Ask the server whether the current user may do something (SelfSubjectAccessReview)."""
        attrs: Obj = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attrs["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }
        out = self.raw_post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
        return bool((out.get("status") or {}).get("allowed"))

    def wait_established(self, crd_names: list[str], timeout: float = 60.0) -> None:
        """Wait until CRDs report ``Established`` (their kinds are then served)."""
        deadline = time.monotonic() + timeout
        pending: list[str] = list(crd_names)
        while pending:
            name = pending[0]
            crd = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            conds = ((crd or {}).get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conds):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"CustomResourceDefinition {name} not established after {timeout:.0f}s"
                )
            time.sleep(0.1)


def connect(
    kubeconfig: Path | None = None, context: str | None = None, *, timeout: float = 30.0
) -> Kube:
    """Open a connection to the cluster a kubeconfig (and context) names.

    Args:
        kubeconfig: Kubeconfig file (default as kubectl: ``$KUBECONFIG``, ``~/.kube/config``).
        context: Context name (default: the current context).
        timeout: Per-request timeout in seconds.

    Returns:
        The connection (nothing is sent until it is used).
    """
    return Kube(load_kubeconfig(kubeconfig, context), timeout=timeout)
