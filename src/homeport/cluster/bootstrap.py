"""``homeport bootstrap``: from an empty cluster to Argo CD syncing the rendered tree.

Steps, each a server-side apply with field manager ``homeport`` (so running it again
changes nothing):

1. preflight: the API server answers, its version is supported, the user may do what
   bootstrap does, and an existing install (Argo CD, a different sealing key) is noticed;
2. the sealing key Secret (``kube-system/sealed-secrets-key``), so SealedSecrets in Git
   open on first sync;
3. the pinned CRDs, out of band (custom resources in Git never race their CRDs);
4. the pinned Argo CD ``install.yaml`` with homeport's settings on top
   (:func:`homeport.platform.argocd.bootstrap_objects`, the same settings Argo CD's
   self-managing Application patches in);
5. repository credentials for a private Git repo (a Secret in the cluster, never in Git),
   and the mirror logins of ``mirror.credentials`` (opened from their SealedSecrets: Argo
   CD needs them before the Sealed Secrets controller, itself fetched from the mirror, runs);
6. the root Application.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from homeport import bundle, sealing
from homeport.cluster.apply import (
    ApplyResult,
    apply_objects,
    load_manifest,
    pinned_crds,
)
from homeport.cluster.kube import Kube, Obj

# Followed the Applications here before the waves had their own modules; kept for callers.
from homeport.cluster.waves import AppState as AppState
from homeport.cluster.waves import app_states as app_states
from homeport.cluster.wavewait import wait_for_apps as wait_for_apps
from homeport.config import HomeportConfig
from homeport.errors import ClusterError, UsageError
from homeport.platform import argocd
from homeport.platform.base import ARGOCD_NS
from homeport.versions import ARGOCD_VERSION, CRD_FOLDERS, SUPPORTED_KUBERNETES
from homeport.wellknown import SEALED_SECRETS_NAMESPACE

SEALING_SECRET = "sealed-secrets-key"
SEALING_NAMESPACE = SEALED_SECRETS_NAMESPACE
REPO_SECRET = "homeport-repo"
REPO_SECRET_LABEL = "argocd.argoproj.io/secret-type"

# What bootstrap does, as (verb, group, resource, namespace) access checks.
REQUIRED_ACCESS: tuple[tuple[str, str, str, str | None], ...] = (
    ("create", "apiextensions.k8s.io", "customresourcedefinitions", None),
    ("patch", "apiextensions.k8s.io", "customresourcedefinitions", None),
    ("create", "", "namespaces", None),
    ("create", "rbac.authorization.k8s.io", "clusterroles", None),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", None),
    ("create", "", "secrets", SEALING_NAMESPACE),
    ("patch", "", "secrets", SEALING_NAMESPACE),
    ("create", "apps", "deployments", ARGOCD_NS),
    ("patch", "", "configmaps", ARGOCD_NS),
)


@dataclass(frozen=True)
class RepoCredentials:
    """Credentials Argo CD uses to clone a private Git repository.

    Attributes:
        username: HTTPS user name (with ``password``).
        password: HTTPS password or access token.
        ssh_private_key: PEM/OpenSSH private key for ``git@`` URLs.
    """

    username: str | None = None
    password: str | None = None
    ssh_private_key: str | None = None

    def __repr__(self) -> str:
        # Never print secrets, even in a debug traceback.
        return "RepoCredentials(<redacted>)"


def read_repo_credentials(path: Path) -> RepoCredentials:
    """Read repository credentials from a file.

    The file is either an SSH private key (PEM or OpenSSH) or YAML with ``username`` and
    ``password`` (an access token works as the password).

    Raises:
        UsageError: The file is missing or holds neither form.
    """
    from homeport import yamlio

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read repository credentials: {exc.strerror}") from None
    if text.lstrip().startswith("-----BEGIN"):
        return RepoCredentials(ssh_private_key=text)
    try:
        data = yamlio.load(text)
    except Exception:
        data = None
    if not isinstance(data, dict) or not data.get("username") or not data.get("password"):
        raise UsageError(f"{path}: expected an SSH private key, or YAML with username and password")
    return RepoCredentials(username=str(data["username"]), password=str(data["password"]))


def repo_secret(cfg: HomeportConfig, creds: RepoCredentials) -> Obj:
    """The Argo CD repository Secret for the config's Git URL."""
    values = {"type": "git", "url": cfg.git.url}
    if creds.ssh_private_key:
        values["sshPrivateKey"] = creds.ssh_private_key
    else:
        values["username"] = creds.username or ""
        values["password"] = creds.password or ""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": REPO_SECRET,
            "namespace": ARGOCD_NS,
            "labels": {REPO_SECRET_LABEL: "repository", "app.kubernetes.io/managed-by": "homeport"},
        },
        "type": "Opaque",
        # data, not stringData: the API server converts stringData, so applying it again
        # would never look unchanged.
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())},
    }


def sealing_key_secret(pair: sealing.KeyPair) -> Obj:
    """The Sealed Secrets controller's key as the TLS Secret it looks for."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SEALING_SECRET,
            "namespace": SEALING_NAMESPACE,
            "labels": {sealing.KEY_LABEL: "active", "app.kubernetes.io/managed-by": "homeport"},
        },
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pair.cert_path.read_bytes()).decode(),
            "tls.key": base64.b64encode(pair.key_path.read_bytes()).decode(),
        },
    }


def argocd_manifest_objects(source: str | None = None) -> list[Obj]:
    """The pinned Argo CD ``install.yaml`` as objects, namespaced into ``argocd``.

    Args:
        source: A file path; default ``$HOMEPORT_ARGOCD_MANIFEST``, else the copy the
            package carries (:mod:`homeport.bundle`). Nothing is downloaded.

    Raises:
        UsageError: The file is unreadable, or the package carries no copy.
    """
    src = source or os.environ.get("HOMEPORT_ARGOCD_MANIFEST")
    if src:
        objs = load_manifest(Path(src))
    else:
        bundled = bundle.argocd_install()
        if bundled is None:
            raise UsageError(
                f"this homeport carries no Argo CD {ARGOCD_VERSION} install manifest: "
                "reinstall it, or pass --argocd-manifest (HOMEPORT_ARGOCD_MANIFEST)"
            )
        objs = [o for o in bundle.read_json_gz(bundled) if isinstance(o, dict)]
    out = []
    for o in objs:
        md = dict(o.get("metadata") or {})
        if o.get("kind") not in _CLUSTER_KINDS and not md.get("namespace"):
            md["namespace"] = ARGOCD_NS
        out.append({**o, "metadata": md})
    return out


_CLUSTER_KINDS = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Namespace"}


def crd_folders(cfg: HomeportConfig) -> list[str]:
    """CRD folders of the enabled components (Argo CD's always)."""
    c = cfg.components
    enabled = {
        "argocd": True,
        "traefik": c.traefik.enabled,
        "cert-manager": c.cert_manager.enabled,
        "sealed-secrets": c.sealed_secrets.enabled,
        "cloudnative-pg": c.cloudnative_pg.enabled or c.authentik.enabled,
        "prometheus-operator": c.monitoring.enabled,
        "metallb": cfg.load_balancer.type == "metallb",
    }
    return [k for k in sorted(CRD_FOLDERS) if enabled.get(k, True)]


# --------------------------------------------------------------------------- preflight


@dataclass
class Preflight:
    """What the preflight found.

    Attributes:
        server_version: ``gitVersion`` of the API server.
        existing_argocd: Image tag of an installed Argo CD server, if any.
        existing_key: Whether the sealing key Secret is already there (and matches).
        notes: Lines worth showing the user.
    """

    server_version: str = ""
    existing_argocd: str | None = None
    existing_key: bool = False
    notes: list[str] = field(default_factory=list)


def server_minor(version: dict[str, str]) -> str:
    """``major.minor`` of a ``/version`` answer (providers append ``+`` to the minor)."""
    major = re.sub(r"\D", "", version.get("major", ""))
    minor = re.sub(r"\D", "", version.get("minor", ""))
    if not major or not minor:
        m = re.match(r"v?(\d+)\.(\d+)", version.get("gitVersion", ""))
        if not m:
            return "unknown"
        major, minor = m.groups()
    return f"{major}.{minor}"


def preflight(kube: Kube, pair: sealing.KeyPair | None = None) -> Preflight:
    """Check the cluster before changing anything.

    Raises:
        ClusterError: Unreachable, unsupported version, missing permissions, or a
            different sealing key already installed (replacing it would orphan every
            secret sealed for it).
    """
    pf = Preflight()
    version = kube.version()
    pf.server_version = version.get("gitVersion", "")
    minor = server_minor(version)
    if minor not in SUPPORTED_KUBERNETES:
        raise ClusterError(
            f"Kubernetes {pf.server_version or minor} is not supported; homeport supports "
            + ", ".join(SUPPORTED_KUBERNETES)
        )
    missing = [
        f"{verb} {res}{'.' + group if group else ''}{' in ' + ns if ns else ''}"
        for verb, group, res, ns in REQUIRED_ACCESS
        if not kube.can(verb, group, res, ns)
    ]
    if missing:
        raise ClusterError(
            f"the user of context {kube.context} lacks permissions bootstrap needs: "
            + "; ".join(missing)
        )
    server = kube.get("apps/v1", "Deployment", "argocd-server", ARGOCD_NS)
    if server is not None:
        containers = (
            server.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        )
        image = str(containers[0].get("image", "")) if containers else ""
        pf.existing_argocd = image.rpartition(":")[2] or "unknown"
        pf.notes.append(f"existing Argo CD {pf.existing_argocd} found in namespace {ARGOCD_NS}")
    secret = kube.get("v1", "Secret", SEALING_SECRET, SEALING_NAMESPACE)
    if secret is not None and pair is not None:
        have = base64.b64decode((secret.get("data") or {}).get("tls.crt", "")).strip()
        if have != pair.cert_path.read_bytes().strip():
            raise ClusterError(
                f"{SEALING_NAMESPACE}/{SEALING_SECRET} holds a different sealing key than "
                f"{pair.cert_path}; replacing it would make every sealed secret in the cluster "
                "unreadable (restore your key into HOMEPORT_HOME, or remove the Secret yourself)"
            )
        pf.existing_key = True
    return pf


# --------------------------------------------------------------------------- bootstrap


@dataclass
class StepResult:
    """One bootstrap step and what it applied."""

    name: str
    result: ApplyResult


@dataclass
class BootstrapResult:
    """The whole bootstrap.

    Attributes:
        preflight: What the preflight found.
        steps: Each step in order.
        dry_run: Whether nothing was stored.
    """

    preflight: Preflight
    steps: list[StepResult] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """Whether any step created or changed anything."""
        return any(s.result.changed for s in self.steps)


def bootstrap(
    kube: Kube,
    cfg: HomeportConfig,
    *,
    pair: sealing.KeyPair,
    repo_credentials: RepoCredentials | None = None,
    mirror_secrets: list[Obj] | None = None,
    argocd_manifest: str | None = None,
    dry_run: bool = False,
    progress: Callable[[str, str], None] | None = None,
) -> BootstrapResult:
    """Install homeport's foundation into a cluster (idempotent).

    Args:
        kube: The connection.
        cfg: The config (Git repo, enabled components, Argo CD settings).
        pair: The sealing key pair (see :func:`homeport.sealing.ensure_keypair`).
        repo_credentials: Credentials for a private Git repository.
        mirror_secrets: Argo CD repository Secrets of the mirror logins
            (:func:`homeport.mirrorcreds.repository_secret`).
        argocd_manifest: Argo CD install.yaml (default: ``$HOMEPORT_ARGOCD_MANIFEST``, else the
            bundled copy).
        dry_run: Validate everything on the server, store nothing.
        progress: Called with (action, object) for each applied object.

    Returns:
        What each step did.

    Raises:
        ClusterError: Preflight failed or the server rejected an object.
    """
    pf = preflight(kube, pair)
    out = BootstrapResult(preflight=pf, dry_run=dry_run)
    install = argocd_manifest_objects(argocd_manifest)
    steps: list[tuple[str, list[Obj]]] = [
        ("sealing key", [sealing_key_secret(pair)]),
        ("CRDs", pinned_crds(crd_folders(cfg))),
        # Later objects win: homeport's argocd-cm replaces the empty upstream one.
        ("Argo CD", install + argocd.bootstrap_objects(cfg)),
    ]
    if repo_credentials is not None:
        steps.append(("repository credentials", [repo_secret(cfg, repo_credentials)]))
    if mirror_secrets:
        steps.append(("mirror credentials", list(mirror_secrets)))
    steps.append(("root Application", [argocd.root_application(cfg)]))
    for name, objs in steps:
        if name == "CRDs":
            # install.yaml carries Argo CD's CRDs too; both copies are the pinned ones.
            known = {o["metadata"]["name"] for o in objs}
            objs = objs + [
                o
                for o in install
                if o.get("kind") == "CustomResourceDefinition"
                and o["metadata"]["name"] not in known
            ]
        elif name == "Argo CD":
            objs = [o for o in objs if o.get("kind") != "CustomResourceDefinition"]
        out.steps.append(
            StepResult(name, apply_objects(kube, objs, dry_run=dry_run, progress=progress))
        )
    return out
