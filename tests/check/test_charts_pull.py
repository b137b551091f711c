"""`homeport charts pull` from a Helm repository and from an OCI registry, digests checked.

Real: the chart (the pinned sealed-secrets chart from ../shared/charts, packaged here as
`helm package` lays it out: one `<name>/` folder in a .tgz), the Helm repository wire
format (index.yaml with `urls` and `digest`) and the OCI distribution API (manifest with
a `application/vnd.cncf.helm.chart.content.v1.tar+gzip` layer, bearer token challenge,
anonymous or with a login), both served on loopback, with HTTP basic auth where a mirror
asks for a login. The mirror's login comes from a SealedSecret sealed with a real key
and opened by the CLI. Stand-in: the servers themselves (no network).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homeport import mirrorcreds, sealing, secretstore
from homeport.check.chartpull import (
    HELM_LAYER,
    LOCK_FILE,
    ChartPullError,
    RepoLogin,
    pull_charts,
)
from homeport.cli import main
from homeport.config import load_config
from homeport.platform.mirror import logins
from homeport.versions import Chart

from .conftest import SHARED

NAME, VERSION = "sealed-secrets", "2.18.5"
SRC = SHARED / "charts" / f"{NAME}-{VERSION}"


def _package(src: Path, name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=f"{name}/{p.relative_to(src)}", recursive=False)
    return buf.getvalue()


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.token_required = False
        self.seen: list[str] = []
        # A login the whole server (basic) or only its token endpoint asks for.
        self.basic: str | None = None
        self.token_basic: str | None = None
        self.authorization: list[str] = []
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                srv.seen.append(self.path)
                got = self.headers.get("Authorization") or ""
                srv.authorization.append(got)
                if self.path.startswith("/token"):
                    if srv.token_basic is not None and got != srv.token_basic:
                        self._send(401, b"", {"WWW-Authenticate": 'Basic realm="t"'})
                        return
                    self._send(200, json.dumps({"token": "anon"}).encode(), {})
                    return
                if srv.basic is not None and got != srv.basic:
                    self._send(401, b"", {"WWW-Authenticate": 'Basic realm="mirror"'})
                    return
                if (
                    srv.token_required
                    and self.path.startswith("/v2/")
                    and self.headers.get("Authorization") != "Bearer anon"
                ):
                    realm = f"http://127.0.0.1:{srv.port}/token"
                    self._send(
                        401,
                        b"",
                        {"WWW-Authenticate": f'Bearer realm="{realm}",service="t",scope="pull"'},
                    )
                    return
                hit = srv.files.get(self.path.split("?")[0])
                if hit is None:
                    self._send(404, b"not found", {})
                else:
                    self._send(200, hit[0], hit[1])

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.httpd.shutdown()


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _repo(server: _Server, tgz: bytes, digest: str) -> None:
    index = {
        "apiVersion": "v1",
        "entries": {
            NAME: [
                {"name": NAME, "version": "2.18.4", "urls": ["old.tgz"], "digest": "0" * 64},
                {
                    "name": NAME,
                    "version": VERSION,
                    "urls": [f"charts/{NAME}-{VERSION}.tgz"],
                    "digest": digest,
                },
            ]
        },
    }
    server.files["/repo/index.yaml"] = (json.dumps(index).encode(), {})
    server.files[f"/repo/charts/{NAME}-{VERSION}.tgz"] = (tgz, {})


def test_pull_from_a_helm_repository(server: _Server, tmp_path: Path) -> None:
    tgz = _package(SRC, NAME)
    sha = hashlib.sha256(tgz).hexdigest()
    _repo(server, tgz, sha)
    chart = Chart(f"{server.url}/repo", NAME, VERSION, "v0.36.6")
    res = pull_charts(tmp_path, [chart])
    out = tmp_path / f"{NAME}-{VERSION}"
    assert [c.path for c in res.charts] == [out]
    assert _files(out) == _files(SRC)  # byte for byte what the repository served
    lock = json.loads((tmp_path / LOCK_FILE).read_text())
    assert lock == {
        f"{NAME}-{VERSION}": {
            "repo": chart.repo,
            "source": f"{server.url}/repo/charts/{NAME}-{VERSION}.tgz",
            "digest": f"sha256:{sha}",
        }
    }


def test_digest_mismatch_writes_nothing(server: _Server, tmp_path: Path) -> None:
    tgz = _package(SRC, NAME)
    _repo(server, tgz, hashlib.sha256(tgz + b"x").hexdigest())
    chart = Chart(f"{server.url}/repo", NAME, VERSION, "v0.36.6")
    with pytest.raises(ChartPullError, match="does not match the digest"):
        pull_charts(tmp_path, [chart])
    assert not (tmp_path / f"{NAME}-{VERSION}").exists()
    assert not (tmp_path / LOCK_FILE).exists()
    # A version the index does not list is one clear error too.
    with pytest.raises(ChartPullError, match=r"version 9\.9\.9 is not in"):
        pull_charts(tmp_path, [Chart(f"{server.url}/repo", NAME, "9.9.9", "")])


def test_pull_from_an_oci_registry(server: _Server, tmp_path: Path) -> None:
    tgz = _package(SRC, NAME)
    layer = "sha256:" + hashlib.sha256(tgz).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json"},
            "layers": [
                {
                    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "digest": layer,
                }
            ],
        }
    ).encode()
    server.files[f"/v2/charts/{NAME}/manifests/{VERSION}"] = (manifest, {})
    server.files[f"/v2/charts/{NAME}/blobs/{layer}"] = (tgz, {})
    server.token_required = True
    chart = Chart(f"oci://127.0.0.1:{server.port}/charts", NAME, VERSION, "v0.36.6")
    res = pull_charts(tmp_path, [chart], oci_scheme="http")
    assert _files(res.charts[0].path) == _files(SRC)
    assert res.charts[0].digest == layer
    assert res.charts[0].manifest_digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert any(p.startswith("/token") for p in server.seen)  # the bearer challenge was met
    # A layer that is not what the manifest promises is refused.
    server.files[f"/v2/charts/{NAME}/blobs/{layer}"] = (tgz + b"\0", {})
    with pytest.raises(ChartPullError, match="does not match its digest"):
        pull_charts(tmp_path / "again", [chart], oci_scheme="http")
    assert not (tmp_path / "again" / f"{NAME}-{VERSION}").exists()


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def other() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.httpd.shutdown()


def test_mirror_with_a_login_replaces_every_repository(
    server: _Server, other: _Server, tmp_path: Path
) -> None:
    """The chart's own repository is never asked; the login goes to the mirror's host only."""
    tgz = _package(SRC, NAME)
    sha = hashlib.sha256(tgz).hexdigest()
    # The mirror's index lists the archive on another host (a CDN): it gets no login.
    index = {
        "apiVersion": "v1",
        "entries": {
            NAME: [
                {
                    "name": NAME,
                    "version": VERSION,
                    "urls": [f"{other.url}/cdn/{NAME}-{VERSION}.tgz"],
                    "digest": sha,
                }
            ]
        },
    }
    server.files["/mirror/index.yaml"] = (json.dumps(index).encode(), {})
    other.files[f"/cdn/{NAME}-{VERSION}.tgz"] = (tgz, {})
    server.basic = _basic("robot", "s3cr3t")
    upstream = Chart("http://127.0.0.1:9/never-asked", NAME, VERSION, "v0.36.6")
    mirror = f"{server.url}/mirror"
    # Negative control: without the login the mirror refuses.
    with pytest.raises(ChartPullError, match=r"index\.yaml: HTTP 401"):
        pull_charts(tmp_path, [upstream], mirror=mirror)
    login = RepoLogin.for_url(mirror, "robot", "s3cr3t")
    assert "s3cr3t" not in repr(login)
    res = pull_charts(tmp_path, [upstream], mirror=mirror, login=login)
    assert _files(res.charts[0].path) == _files(SRC)
    lock = json.loads((tmp_path / LOCK_FILE).read_text())
    assert lock[f"{NAME}-{VERSION}"]["repo"] == mirror
    assert server.authorization[-1] == _basic("robot", "s3cr3t")
    assert other.authorization == [""]  # the CDN never saw the login


def test_oci_mirror_login_is_sent_to_the_token_endpoint(server: _Server, tmp_path: Path) -> None:
    tgz = _package(SRC, NAME)
    layer = "sha256:" + hashlib.sha256(tgz).hexdigest()
    manifest = json.dumps(
        {"schemaVersion": 2, "layers": [{"mediaType": HELM_LAYER, "digest": layer}]}
    ).encode()
    server.files[f"/v2/mirror/{NAME}/manifests/{VERSION}"] = (manifest, {})
    server.files[f"/v2/mirror/{NAME}/blobs/{layer}"] = (tgz, {})
    server.token_required = True
    server.token_basic = _basic("robot", "s3cr3t")
    upstream = Chart("https://charts.example/never-asked", NAME, VERSION, "v0.36.6")
    mirror = f"oci://127.0.0.1:{server.port}/mirror"
    with pytest.raises(ChartPullError, match="asks for credentials"):
        pull_charts(tmp_path, [upstream], mirror=mirror, oci_scheme="http")
    login = RepoLogin.for_url(mirror, "robot", "s3cr3t")
    res = pull_charts(tmp_path, [upstream], mirror=mirror, login=login, oci_scheme="http")
    assert res.charts[0].source == f"oci://127.0.0.1:{server.port}/mirror/{NAME}:{VERSION}"
    assert _files(res.charts[0].path) == _files(SRC)


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> tuple[int, str]:
    """Run the CLI's real entry point in-process; return (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["homeport", *args])
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out + err


def test_charts_pull_cli_opens_the_sealed_mirror_login(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`homeport charts pull` reads mirror.charts from homeport.yaml and opens its login."""
    tgz = _package(SRC, NAME)
    _repo(server, tgz, hashlib.sha256(tgz).hexdigest())
    server.basic = _basic("robot", "pull-token-1")
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("HOMEPORT_HOME", str(tmp_path / "empty-home"))
    (repo / "homeport.yaml").write_text(
        "domain: example.com\nemail: me@example.com\n"
        "git:\n  url: git://127.0.0.1:9418/lab.git\n"
        f"mirror:\n  charts: {server.url}/repo\n  credentials: [charts]\n"
    )
    cfg = load_config(repo / "homeport.yaml")
    dest = tmp_path / "charts"
    args = ["charts", "pull", "--chart", NAME, "--dest", str(dest)]
    args += ["--config", str(repo / "homeport.yaml")]
    # Not sealed yet: one line naming the field and the command.
    code, out = _cli(args, monkeypatch, capsys)
    assert code == 2, out
    assert out.strip().splitlines() == [
        "error: mirror.credentials: the login of mirror.charts is not sealed "
        "(cluster/secrets/argocd/mirror-charts.yaml is missing); run: homeport secret set "
        "mirror-charts --namespace argocd --from-literal username=USER "
        "--from-file password=PASSWORD_FILE"
    ]
    pair, _ = sealing.ensure_keypair(tmp_path / "sealer")
    [login] = logins(cfg)
    sealed = mirrorcreds.seal_login(
        pair.certificate(), login, {"username": b"robot", "password": b"pull-token-1"}
    )
    secretstore.write_sealed(repo / cfg.git.path, sealed)
    # Sealed, but this machine has no sealing key to open it.
    code, out = _cli(args, monkeypatch, capsys)
    assert code == 2 and "needs the sealing key" in out, out
    monkeypatch.setenv("HOMEPORT_HOME", str(tmp_path / "sealer"))
    code, out = _cli(args, monkeypatch, capsys)
    assert code == 0, out
    assert _files(dest / f"{NAME}-{VERSION}") == _files(SRC)
    assert "pull-token-1" not in out
    assert set(server.authorization) == {_basic("robot", "pull-token-1")}
    # Negative control: a login sealed with another key does not open.
    other, _ = sealing.ensure_keypair(tmp_path / "other-home")
    sealed = mirrorcreds.seal_login(
        other.certificate(), login, {"username": b"robot", "password": b"x"}
    )
    secretstore.write_sealed(repo / cfg.git.path, sealed, replace=True)
    code, out = _cli(args, monkeypatch, capsys)
    assert code != 0 and "mirror-charts.yaml" in out, out
