"""The ACME stack on loopback: pebble, challtestsrv, a Cloudflare CONNECT proxy, cert-manager.

Real programs, built by ``scripts/build-tools.sh`` into ``$HOMEPORT_TOOLS/bin``:

- ``pebble`` v2.10.3, Let's Encrypt's ACME test server (a real ACME CA: accounts, orders,
  DNS-01 validation, issuance), serving HTTPS with a certificate from :class:`TestCA`;
- ``pebble-challtestsrv`` v2.10.3, the DNS server pebble and cert-manager's self-check
  query; its TXT records are set over its HTTP management API (``/set-txt``, ``/clear-txt``);
- ``cert-manager-controller`` v1.21.1, upstream ``cmd/controller`` built with one patched
  dependency: vcert v5.12.3 plus a stub NGTS connector (the module proxy here refuses the
  vcert v5.13+ cert-manager requires). Only Venafi issuers reach vcert; ACME never does.

Stand-ins: the Cloudflare v4 API (tests/ddns/emulator.py, extended for TXT records), reached
by cert-manager's fixed ``https://api.cloudflare.com/client/v4`` through ``HTTPS_PROXY``:
:class:`CloudflareProxy` answers ``CONNECT api.cloudflare.com:443`` on 127.0.0.1, terminates
TLS with a test CA certificate (``SSL_CERT_FILE``) and hands the connection to the emulator.
Every socket is on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster.apiserver import _stop_process, _tail, binary, free_port, self_signed_ca
from ddns.emulator import Change, CloudflareEmulator

CLOUDFLARE_HOST = "api.cloudflare.com"
ACME_CHALLENGE = "_acme-challenge."


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class TestCA:
    """A throwaway CA for the test's own TLS servers (pebble's HTTPS, the Cloudflare proxy)."""

    __test__ = False  # not a pytest class

    def __init__(self, cn: str = "homeport-acme-test-ca") -> None:
        self.key, self.cert = self_signed_ca(cn)
        self.pem = _pem(self.cert)

    def issue(self, dns_names: list[str], ips: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
        """A server certificate for these names; returns (cert PEM, key PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return _pem(cert), key_pem


class _Proc:
    """A started program with its log file."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self.proc = subprocess.Popen(
            args, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=log.parent
        )

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n{_tail(self.log, 40)}"
            )

    def stop(self) -> None:
        _stop_process(self.proc)


def _base_env() -> dict[str, str]:
    # No proxy or CA settings of the caller leak in: each program gets exactly what it needs.
    keep = ("PATH", "HOME", "LANG", "TZ")
    return {k: v for k, v in os.environ.items() if k in keep}


def _wait(what: str, check: Callable[[], bool], proc: _Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not up in {timeout:.0f}s:\n{_tail(proc.log, 40)}")


def _listening(port: int) -> bool:
    # challtestsrv opens its UDP and TCP DNS listeners together: TCP answering is enough.
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


class ChallTestSrv:
    """``pebble-challtestsrv`` with only its DNS server and management API, on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.dns_port = free_port()
        self.mgmt_port = free_port()
        args = [
            str(binary("pebble-challtestsrv")),
            "-http01=",
            "-https01=",
            "-doh=",
            "-tlsalpn01=",
            f"-dnsserver=127.0.0.1:{self.dns_port}",
            f"-management=127.0.0.1:{self.mgmt_port}",
            # A queries answer loopback, never a real address.
            "-defaultIPv4=127.0.0.1",
            "-defaultIPv6=::1",
        ]
        self.p = _Proc("pebble-challtestsrv", args, workdir / "challtestsrv.log", _base_env())
        _wait("challtestsrv", lambda: _listening(self.mgmt_port), self.p)
        _wait("challtestsrv dns", lambda: _listening(self.dns_port), self.p)

    @property
    def dns(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def _post(self, path: str, body: dict[str, str]) -> None:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.mgmt_port}{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            if resp.status != 200:
                raise RuntimeError(f"challtestsrv {path}: {resp.status}")

    def set_txt(self, host: str, values: list[str]) -> None:
        """Make the DNS server answer exactly these TXT values for ``host``."""
        self._post("/clear-txt", {"host": host})
        for v in values:
            self._post("/set-txt", {"host": host, "value": v})

    def mirror(self) -> Callable[[CloudflareEmulator, Change], None]:
        """An emulator ``on_change`` hook: ``_acme-challenge`` TXT records become DNS answers.

        What Cloudflare's authoritative servers would do: the zone's TXT records at that name
        are what DNS answers, right after the API call that changed them.
        """

        def hook(emu: CloudflareEmulator, change: Change) -> None:
            if change.type == "TXT" and change.name.startswith(ACME_CHALLENGE):
                self.set_txt(change.name, emu.records_named(change.name, "TXT"))

        return hook

    def stop(self) -> None:
        self.p.stop()


class Pebble:
    """``pebble`` on loopback, validating DNS-01 through challtestsrv's DNS server.

    Attributes:
        directory: The ACME directory URL.
        ca_pem: PEM of the CA that signed pebble's HTTPS certificate (the issuer's caBundle).
    """

    def __init__(self, workdir: Path, ca: TestCA, dns: str) -> None:
        self.port = free_port()
        self.mgmt_port = free_port()
        crt, key = ca.issue(["localhost"], ["127.0.0.1"])
        (workdir / "pebble.crt").write_bytes(crt)
        (workdir / "pebble.key").write_bytes(key)
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
                "certificate": str(workdir / "pebble.crt"),
                "privateKey": str(workdir / "pebble.key"),
                # HTTP-01 / TLS-ALPN-01 are never used; ports nobody listens on.
                "httpPort": free_port(),
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "retryAfter": {"authz": 3, "order": 5},
                "keyAlgorithm": "ecdsa",
                "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}},
            }
        }
        (workdir / "pebble.json").write_text(json.dumps(config))
        env = {
            **_base_env(),
            "PEBBLE_VA_NOSLEEP": "1",  # validate at once (the default sleeps up to 5 s)
            "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce: runs are reproducible
            "PEBBLE_AUTHZREUSE": "0",  # every order validates afresh (fault cases rely on it)
        }
        args = [
            str(binary("pebble")),
            "-config",
            str(workdir / "pebble.json"),
            "-dnsserver",
            dns,
        ]
        self.p = _Proc("pebble", args, workdir / "pebble.log", env)
        self.ca_pem = ca.pem
        self._ctx = ssl.create_default_context(cadata=ca.pem.decode())
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        _wait("pebble", self._up, self.p)

    def _up(self) -> bool:
        with urllib.request.urlopen(self.directory, timeout=2, context=self._ctx) as resp:
            return bool(resp.status == 200)

    def root(self) -> x509.Certificate:
        """Pebble's issuing root (regenerated at every start)."""
        url = f"https://127.0.0.1:{self.mgmt_port}/roots/0"
        with urllib.request.urlopen(url, timeout=5, context=self._ctx) as resp:
            return x509.load_pem_x509_certificate(resp.read())

    def stop(self) -> None:
        self.p.stop()


class CloudflareProxy:
    """An HTTPS proxy on 127.0.0.1 that only knows ``api.cloudflare.com:443``.

    ``CONNECT api.cloudflare.com:443`` is answered, TLS is terminated with a certificate from
    the test CA, and the decrypted connection is served by the emulator. Any other target
    is refused (403) and recorded in :attr:`refused`: nothing leaves loopback.
    """

    def __init__(self, workdir: Path, ca: TestCA, emulator: CloudflareEmulator) -> None:
        crt, key = ca.issue([CLOUDFLARE_HOST])
        (workdir / "cloudflare.crt").write_bytes(crt)
        (workdir / "cloudflare.key").write_bytes(key)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(workdir / "cloudflare.crt", workdir / "cloudflare.key")
        self.emulator = emulator
        self.refused: list[str] = []
        self.tunnels = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, *_ = line.split(" ")
            if method != "CONNECT" or target != f"{CLOUDFLARE_HOST}:443":
                self.refused.append(line)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls = self._tls.wrap_socket(conn, server_side=True)
            tls.settimeout(None)
            self.tunnels += 1
            self.emulator.serve_connection(tls)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self._stopped = True
        self._sock.close()


RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
CONTROLLER_SA = "cert-manager"


def chart_objects(chart_dir: Path, values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """What the pinned chart renders from these values: the real ``helm template``.

    The same Helm (v4) Argo CD templates the chart with, over the values of the rendered
    cert-manager Application.
    """
    out = subprocess.run(
        [
            str(binary("helm")),
            "template",
            "cert-manager",
            str(chart_dir),
            "--namespace",
            namespace,
            "--values",
            "-",
        ],
        input=yaml.safe_dump(values),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"helm template {chart_dir} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if isinstance(d, dict)]


def controller_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The chart's cert-manager controller Deployment."""
    for doc in objects:
        if doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "cert-manager":
            return doc
    raise RuntimeError("helm template produced no cert-manager controller Deployment")


def controller_args(objects: list[dict[str, Any]], namespace: str) -> list[str]:
    """The controller container's args, ``$(POD_NAMESPACE)`` substituted as the kubelet would."""
    container = controller_deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    return [str(a).replace("$(POD_NAMESPACE)", namespace) for a in container["args"]]


def chart_rbac(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chart's ServiceAccounts, (Cluster)Roles and bindings: what the controller may do."""
    return [o for o in objects if o.get("kind") in RBAC_KINDS]


def loopback_args(chart_args: list[str], kubeconfig: Path, nameserver: str) -> list[str]:
    """Chart args plus what running outside a pod on loopback needs; the only changes.

    Leader election stays on, as the chart runs it (a Lease in the leader-election namespace,
    which the chart's Role must allow).

    The recursive nameservers the chart sets (public resolvers) become the test's DNS
    server; ``--dns01-recursive-nameservers-only`` must already be there (from the values).
    """
    out = []
    for a in chart_args:
        if a.startswith("--dns01-recursive-nameservers="):
            a = f"--dns01-recursive-nameservers={nameserver}"
        out.append(a)
    return [
        *out,
        f"--kubeconfig={kubeconfig}",
        f"--metrics-listen-address=127.0.0.1:{free_port()}",
        f"--internal-healthz-listen-address=127.0.0.1:{free_port()}",
        "--enable-profiling=false",
    ]


class CertManager:
    """cert-manager's controller as a process against the test API server."""

    def __init__(self, workdir: Path, args: list[str], proxy: CloudflareProxy, ca: TestCA) -> None:
        (workdir / "proxy-ca.pem").write_bytes(ca.pem)
        self.args = args
        env = {
            **_base_env(),
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            # Go reads its system roots from here: only the test CA is trusted.
            "SSL_CERT_FILE": str(workdir / "proxy-ca.pem"),
            "POD_NAMESPACE": "cert-manager",
        }
        self.p = _Proc(
            "cert-manager-controller",
            [str(binary("cert-manager-controller")), *args],
            workdir / "cert-manager.log",
            env,
        )

    def check_alive(self) -> None:
        self.p.check_alive()

    def log_text(self) -> str:
        return self.p.log.read_text(errors="replace")

    def stop(self) -> None:
        self.p.stop()
