"""`homeport charts pull` from a Helm repository and from an OCI registry, digests checked.

Real: the chart (the pinned sealed-secrets chart from ../shared/charts, packaged here as
`helm package` lays it out: one `<name>/` folder in a .tgz), the Helm repository wire
format (index.yaml with `urls` and `digest`) and the OCI distribution API (manifest with
a `application/vnd.cncf.helm.chart.content.v1.tar+gzip` layer, anonymous bearer token
challenge), both served on loopback. Stand-in: the servers themselves (no network).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.check.chartpull import LOCK_FILE, ChartPullError, pull_charts
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
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                srv.seen.append(self.path)
                if self.path.startswith("/token"):
                    self._send(200, json.dumps({"token": "anon"}).encode(), {})
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
