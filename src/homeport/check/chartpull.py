"""``homeport charts pull``: fetch the pinned charts into the chart cache, digests checked.

Each chart of :data:`homeport.versions.CHARTS` is downloaded at its pinned version from
its Helm repository (``index.yaml``, then the archive it lists, whose SHA-256 must match
the index's ``digest``) or from an OCI registry (``oci://host/path``: the manifest for
the version tag, then its Helm chart layer, whose SHA-256 must match the layer digest).
With ``mirror.charts`` set, every chart comes from the mirror instead (same names and
versions), with the mirror's login when it needs one (HTTP basic auth on the mirror's
host; for OCI also at the registry's token endpoint).
Archives are unpacked into ``<cache>/<chart>-<version>/`` (dependencies are packaged
inside a chart archive, so Helm templates it offline) and ``charts.lock.json`` records
where each came from and its digests. Nothing is written for a chart whose download or
digest check fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

from homeport.check.expand import charts_cache
from homeport.errors import HomeportError
from homeport.versions import CHARTS, Chart

LOCK_FILE = "charts.lock.json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
_MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"
_MAX_ARCHIVE = 50 * 1024 * 1024


class ChartPullError(HomeportError):
    """A chart could not be fetched, or its digest does not match."""

    exit_code = 1


@dataclass(frozen=True)
class PulledChart:
    """One chart in the cache.

    Attributes:
        name: Chart name.
        version: Chart version.
        path: Unpacked folder.
        digest: ``sha256:<hex>`` of the chart archive.
        source: Where it came from (archive URL or ``oci://...:<version>``).
        manifest_digest: For OCI, ``sha256:<hex>`` of the manifest ('' otherwise).
    """

    name: str
    version: str
    path: Path
    digest: str
    source: str
    manifest_digest: str = ""


@dataclass
class PullResult:
    """What ``charts pull`` wrote."""

    dest: Path
    charts: list[PulledChart] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RepoLogin:
    """A chart mirror's login, sent only to the mirror's own host.

    Attributes:
        host: ``host[:port]`` of the mirror.
        username: User name.
        password: Password or token.
    """

    host: str
    username: str
    password: str

    def __repr__(self) -> str:
        # Never print the login, even in a debug traceback.
        return f"RepoLogin({self.host}, <redacted>)"

    @classmethod
    def for_url(cls, url: str, username: str, password: str) -> RepoLogin:
        """The login of the repository at ``url`` (``https://``, ``http://``, ``oci://``)."""
        return cls(_host(url), username, password)

    def auth_for(self, url: str) -> tuple[str, str] | None:
        """Basic auth for ``url`` when it is on the mirror's host.

        httpx drops the header itself on a redirect to another origin.
        """
        return (self.username, self.password) if _host(url) == self.host else None


def _host(url: str) -> str:
    return urlsplit(url if "://" in url else f"oci://{url}").netloc.lower()


def _get(
    http: httpx.Client, url: str, what: str, login: RepoLogin | None = None, **kw: Any
) -> httpx.Response:
    auth = login.auth_for(url) if login is not None else None
    try:
        if auth is not None:
            r = http.get(url, follow_redirects=True, auth=auth, **kw)
        else:
            r = http.get(url, follow_redirects=True, **kw)
    except httpx.HTTPError as exc:
        raise ChartPullError(f"{what}: {url}: {exc}") from None
    return r


def _from_repo(
    http: httpx.Client, chart: Chart, login: RepoLogin | None = None
) -> tuple[bytes, str, str]:
    base = chart.repo.rstrip("/") + "/"
    r = _get(http, urljoin(base, "index.yaml"), chart.name, login)
    if r.status_code != 200:
        raise ChartPullError(f"{chart.name}: {base}index.yaml: HTTP {r.status_code}")
    try:
        index = yaml.safe_load(r.text)
    except yaml.YAMLError:
        raise ChartPullError(f"{chart.name}: {base}index.yaml is not YAML") from None
    entries = ((index or {}).get("entries") or {}).get(chart.name) or []
    entry = next((e for e in entries if str(e.get("version")) == chart.version), None)
    if entry is None or not entry.get("urls"):
        raise ChartPullError(f"{chart.name}: version {chart.version} is not in {base}index.yaml")
    url = urljoin(base, str(entry["urls"][0]))
    r = _get(http, url, chart.name, login)
    if r.status_code != 200:
        raise ChartPullError(f"{chart.name}: {url}: HTTP {r.status_code}")
    data = r.content
    digest = _sha256(data)
    want = str(entry.get("digest") or "")
    if not want:
        raise ChartPullError(f"{chart.name}: {base}index.yaml lists no digest for {chart.version}")
    if digest != "sha256:" + want.removeprefix("sha256:"):
        raise ChartPullError(
            f"{chart.name}: {url} does not match the digest in index.yaml "
            f"(got {digest}, index says sha256:{want.removeprefix('sha256:')})"
        )
    return data, digest, url


def _oci_token(http: httpx.Client, challenge: str, login: RepoLogin | None) -> str | None:
    # WWW-Authenticate: Bearer realm="...",service="...",scope="..." (anonymous pull, or
    # the mirror's login at the token endpoint, as `helm registry login` does).
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if not challenge.lower().startswith("bearer") or "realm" not in params:
        return None
    realm = params.pop("realm")
    realm_login = None
    if login is not None and (_host(realm) == login.host or realm.startswith("https://")):
        realm_login = RepoLogin(_host(realm), login.username, login.password)
    r = _get(http, realm, "registry token", realm_login, params=params)
    if r.status_code != 200:
        return None
    body = r.json()
    token = body.get("token") or body.get("access_token")
    return str(token) if token else None


def _from_oci(
    http: httpx.Client, chart: Chart, scheme: str, login: RepoLogin | None = None
) -> tuple[bytes, str, str, str]:
    ref = chart.repo.removeprefix("oci://").rstrip("/")
    host, _, path = ref.partition("/")
    repo = f"{path}/{chart.name}" if path else chart.name
    base = f"{scheme}://{host}/v2/{repo}"
    headers = {"Accept": _MANIFEST_TYPES}
    url = f"{base}/manifests/{chart.version}"
    basic: RepoLogin | None = None
    r = _get(http, url, chart.name, headers=headers)
    if r.status_code == 401:
        challenge = r.headers.get("www-authenticate", "")
        if challenge.lower().startswith("basic") and login is not None:
            basic = login
            r = _get(http, url, chart.name, basic, headers=headers)
        else:
            token = _oci_token(http, challenge, login)
            if token is None:
                raise ChartPullError(f"{chart.name}: {host} asks for credentials to pull {repo}")
            headers["Authorization"] = f"Bearer {token}"
            r = _get(http, url, chart.name, headers=headers)
    if r.status_code != 200:
        raise ChartPullError(
            f"{chart.name}: oci://{host}/{repo}:{chart.version}: HTTP {r.status_code}"
        )
    manifest_digest = _sha256(r.content)
    layer = next(
        (x for x in (r.json().get("layers") or []) if x.get("mediaType") == HELM_LAYER), None
    )
    if layer is None:
        raise ChartPullError(f"{chart.name}: oci://{host}/{repo}:{chart.version} is not a chart")
    want = str(layer.get("digest", ""))
    blob = _get(http, f"{base}/blobs/{want}", chart.name, basic, headers=headers)
    if blob.status_code != 200:
        raise ChartPullError(f"{chart.name}: blob {want}: HTTP {blob.status_code}")
    data = blob.content
    digest = _sha256(data)
    if digest != want:
        raise ChartPullError(
            f"{chart.name}: chart layer does not match its digest (got {digest}, want {want})"
        )
    return data, digest, f"oci://{host}/{repo}:{chart.version}", manifest_digest


def _unpack(data: bytes, chart: Chart, dest: Path) -> Path:
    """Unpack a chart archive into ``dest/<name>-<version>`` (replacing it), safely."""
    if len(data) > _MAX_ARCHIVE:
        raise ChartPullError(f"{chart.name}: archive larger than {_MAX_ARCHIVE} bytes")
    target = dest / f"{chart.name}-{chart.version}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{chart.name}-", dir=dest))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                members = tar.getmembers()
                top = {m.name.split("/", 1)[0] for m in members}
                if top != {chart.name}:
                    raise ChartPullError(
                        f"{chart.name}: archive does not hold one {chart.name}/ folder"
                    )
                for m in members:
                    if not (m.isfile() or m.isdir()):
                        raise ChartPullError(f"{chart.name}: archive holds a link ({m.name})")
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ChartPullError(f"{chart.name}: archive is damaged: {exc}") from None
        if not (tmp / chart.name / "Chart.yaml").is_file():
            raise ChartPullError(f"{chart.name}: archive has no Chart.yaml")
        if target.exists():
            shutil.rmtree(target)
        (tmp / chart.name).rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def pull_charts(
    dest: Path | None = None,
    charts: Iterable[Chart] | None = None,
    *,
    http: httpx.Client | None = None,
    oci_scheme: str = "https",
    mirror: str | None = None,
    login: RepoLogin | None = None,
) -> PullResult:
    """Download and unpack charts (default: every pinned one) into the chart cache.

    Args:
        dest: Target directory (default :func:`homeport.check.expand.charts_cache`).
        charts: Charts to pull (default ``versions.CHARTS``).
        http: HTTP client (default: a new one with a 60 s timeout).
        oci_scheme: ``https``, or ``http`` for a local test registry.
        mirror: ``mirror.charts``: the repository every chart comes from instead of its
            own (same names and versions).
        login: The mirror's login (sent to its host only).

    Returns:
        The charts written; ``charts.lock.json`` in ``dest`` records them.

    Raises:
        ChartPullError: A download failed or a digest does not match (charts pulled
            before it stay; nothing of the failing one is written).
    """
    dest = Path(dest) if dest is not None else charts_cache()
    dest.mkdir(parents=True, exist_ok=True)
    todo = list(charts if charts is not None else CHARTS.values())
    if mirror is not None:
        todo = [replace(c, repo=mirror) for c in todo]
    own = http is None
    client = http or httpx.Client(timeout=60.0)
    result = PullResult(dest)
    lock_path = dest / LOCK_FILE
    try:
        lock = json.loads(lock_path.read_text()) if lock_path.is_file() else {}
    except ValueError:
        lock = {}
    try:
        for chart in todo:
            manifest = ""
            if chart.repo.startswith("oci://"):
                data, digest, source, manifest = _from_oci(client, chart, oci_scheme, login)
            else:
                data, digest, source = _from_repo(client, chart, login)
            path = _unpack(data, chart, dest)
            pulled = PulledChart(chart.name, chart.version, path, digest, source, manifest)
            result.charts.append(pulled)
            entry = {"repo": chart.repo, "source": source, "digest": digest}
            if manifest:
                entry["manifestDigest"] = manifest
            lock[f"{chart.name}-{chart.version}"] = entry
            lock_path.write_text(json.dumps(dict(sorted(lock.items())), indent=2) + "\n")
    finally:
        if own:
            client.close()
    return result


__all__ = [
    "LOCK_FILE",
    "ChartPullError",
    "PullResult",
    "PulledChart",
    "RepoLogin",
    "pull_charts",
]
