"""Where Argo CD fetches what homeport installs: upstream, or the mirrors of ``mirror:``.

The one home of the rule "which repository does chart X (and Argo CD itself) come from":
the Applications and the AppProject's ``sourceRepos`` (platform/argocd.py) and the mirror
logins ask here; the argocd namespace's egress (``egress.mirror_endpoints``) and
``homeport charts pull`` read the same two ``mirror:`` fields.

OCI: Argo CD v3.5.1 has two ways to read a Helm chart from an OCI registry. A ``repoURL``
with the ``oci://`` scheme is its native OCI source (v3.1+): one artifact per repoURL,
``path: .``, no ``chart`` field (reposerver/repository: ``source.IsOCI()`` is tested
before ``source.IsHelm()``). The Helm-over-OCI form keeps ``chart`` and
``targetRevision`` exactly as for an HTTP Helm repository and writes the repoURL without
a scheme (``registry.example/charts``; util/helm ``IsHelmOciRepo``: no host after
parsing means OCI); its repository Secret is ``type: helm`` with ``enableOCI: "true"``.
homeport renders the second form, so an OCI mirror and an HTTP mirror differ only in
the repoURL.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.config import HomeportConfig, MirrorName
from homeport.versions import ARGOCD_REPO, Chart
from homeport.wellknown import ARGOCD_NAMESPACE

# Argo CD reads Secrets with this label as repository definitions (exact URL match).
REPO_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
OCI_PREFIX = "oci://"
# The sealed Secret of each mirror's login (namespace argocd).
SECRET_NAMES: dict[MirrorName, str] = {"charts": "mirror-charts", "argocd": "mirror-argocd"}
SSH_KEY = "sshPrivateKey"
BASIC_KEYS = ("password", "username")


def argo_helm_url(url: str) -> str:
    """A Helm repository URL as an Application's ``repoURL`` (OCI without its scheme)."""
    return url.removeprefix(OCI_PREFIX) if url.startswith(OCI_PREFIX) else url


def chart_repo(cfg: HomeportConfig, chart: Chart) -> str:
    """The repository a chart is fetched from: ``mirror.charts``, else its upstream one.

    Args:
        cfg: The config.
        chart: The pinned chart.

    Returns:
        The URL as configured (``oci://`` kept; see :func:`chart_repo_url` for Argo CD).
    """
    return cfg.mirror.charts or chart.repo


def chart_repo_url(cfg: HomeportConfig, chart: Chart) -> str:
    """The ``repoURL`` of a chart's Application (Helm-over-OCI form for ``oci://``)."""
    return argo_helm_url(chart_repo(cfg, chart))


def argocd_repo(cfg: HomeportConfig) -> str:
    """The Git repository Argo CD manages itself from: ``mirror.argocd``, else GitHub."""
    return cfg.mirror.argocd or ARGOCD_REPO


def is_ssh(url: str) -> bool:
    """Whether a Git URL is SSH (``ssh://`` or ``git@host:path``): its login is a key."""
    return url.startswith("ssh://") or ("://" not in url and "@" in url)


@dataclass(frozen=True)
class MirrorLogin:
    """The sealed Secret holding one mirror's login, as Argo CD reads repository Secrets.

    Attributes:
        mirror: ``charts`` or ``argocd``.
        name: Secret name (namespace argocd).
        url: The repository URL exactly as the Applications name it.
        repo_type: ``helm`` or ``git``.
        oci: The Helm repository is an OCI registry (``enableOCI: "true"``).
        keys: The sealed keys the user gives (sorted).
    """

    mirror: MirrorName
    name: str
    url: str
    repo_type: str
    oci: bool
    keys: tuple[str, ...]

    namespace: str = ARGOCD_NAMESPACE

    @property
    def field(self) -> str:
        """The config field the login is for (``mirror.charts``)."""
        return f"mirror.{self.mirror}"

    def labels(self) -> dict[str, str]:
        """Labels of the Secret: Argo CD's repository label and homeport's own."""
        return {
            "app.kubernetes.io/managed-by": "homeport",
            REPO_SECRET_TYPE_LABEL: "repository",
        }

    def template_data(self) -> dict[str, str]:
        """The Secret's non-secret keys, plain in the SealedSecret's ``spec.template.data``.

        They follow homeport.yaml; the user seals only the login (``keys``).
        """
        data = {"type": self.repo_type, "url": self.url}
        if self.oci:
            data["enableOCI"] = "true"
        return dict(sorted(data.items()))

    def set_command(self) -> str:
        """The command that seals this login."""
        if self.keys == (SSH_KEY,):
            given = f"--from-file {SSH_KEY}=KEY_FILE"
        else:
            given = "--from-literal username=USER --from-file password=PASSWORD_FILE"
        return f"homeport secret set {self.name} --namespace {self.namespace} {given}"


def logins(cfg: HomeportConfig) -> list[MirrorLogin]:
    """The mirror logins homeport.yaml asks for (``mirror.credentials``), charts first."""
    out = []
    for m in cfg.mirror.logins():
        if m == "charts":
            url = cfg.mirror.charts or ""
            out.append(
                MirrorLogin(
                    m,
                    SECRET_NAMES[m],
                    argo_helm_url(url),
                    "helm",
                    url.startswith(OCI_PREFIX),
                    BASIC_KEYS,
                )
            )
        else:
            url = cfg.mirror.argocd or ""
            keys = (SSH_KEY,) if is_ssh(url) else BASIC_KEYS
            out.append(MirrorLogin(m, SECRET_NAMES[m], url, "git", False, keys))
    return out


__all__ = [
    "OCI_PREFIX",
    "REPO_SECRET_TYPE_LABEL",
    "SECRET_NAMES",
    "MirrorLogin",
    "argo_helm_url",
    "argocd_repo",
    "chart_repo",
    "chart_repo_url",
    "is_ssh",
    "logins",
]
