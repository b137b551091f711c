"""A real etcd + kube-apiserver on loopback for tests, run as controller-runtime's envtest does.

No kubelet, no controllers: only the API server (with its built-in apiextensions and RBAC
machinery), so objects are stored, validated (OpenAPI, CEL) and authorised for real, but
nothing reconciles them. Binaries come from ``scripts/build-tools.sh``
(``$HOMEPORT_TOOLS/bin``, default ``~/.cache/homeport-tools/bin``).

Usable from any test directory::

    sys.path.insert(0, str(Path(__file__).parents[1] / "cluster"))
    from .apiserver import shared_apiserver, ApiServer

``shared_apiserver()`` hands out one server per test process (stopped at exit), so
conftests in several directories share it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONTEXT = "homeport-test"
START_TIMEOUT = 120.0


def tools_bin() -> Path:
    """Directory holding the built kube-apiserver and etcd."""
    base = os.environ.get("HOMEPORT_TOOLS") or str(Path.home() / ".cache" / "homeport-tools")
    return Path(base) / "bin"


def binary(name: str) -> Path:
    """Path of a built tool; a clear error (not a skip) when it was never built."""
    path = tools_bin() / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"{path} is missing: run scripts/build-tools.sh (it builds {name} from tools/)"
        )
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- certificates ---------------------------------------------------------------------------


def _pem_key(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def self_signed_ca(
    cn: str,
    valid_for: dt.timedelta = dt.timedelta(days=2),
    backdate: dt.timedelta = dt.timedelta(hours=1),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway CA key and certificate (EC P-256: fast to generate), shared by the test
    harnesses that serve TLS (this API server, tests/certs, tests/traffic)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


class _CA:
    """A throwaway certificate authority."""

    def __init__(self, cn: str) -> None:
        self.key, self.cert = self_signed_ca(cn)

    def issue(
        self,
        cn: str,
        *,
        orgs: tuple[str, ...] = (),
        server: bool = False,
        ips: tuple[str, ...] = ("10.0.0.1",),
    ) -> tuple[bytes, bytes]:
        """Issue a leaf certificate; returns (cert PEM, key PEM).

        Args:
            cn: Common name.
            orgs: Organisations (Kubernetes groups).
            server: A serving certificate (SANs localhost, kubernetes.default.svc, 127.0.0.1).
            ips: Further IP SANs of a serving certificate (the ``kubernetes`` Service's ClusterIP).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            sans: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.DNSName("kubernetes"),
                x509.DNSName("kubernetes.default"),
                x509.DNSName("kubernetes.default.svc"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            usage = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return _pem_cert(cert), _pem_key(key)


# --- processes ------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class ApiServer:
    """etcd + kube-apiserver on free loopback ports, with RBAC and an admin client certificate.

    Attributes:
        workdir: Directory with certificates, data, logs and kubeconfig files.
        port: The API server's HTTPS port (kept across restarts).
        url: ``https://127.0.0.1:<port>``.
        kubeconfig: Admin kubeconfig (group ``system:masters``), context :data:`CONTEXT`.
        service_cidr: The Service ClusterIP range.
        ca_cert_path: The cluster CA certificate (it signs serving and client certificates).
        ca_key_path: Its private key (a controller manager signs with it).

    The defaults are envtest's (RBAC only, no ServiceAccount admission: no controller
    manager creates ServiceAccounts); a full control plane (tests/sync) passes
    ``authorization_mode="Node,RBAC"``, ``service_account_admission=True`` and a larger
    ``service_cidr``.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        authorization_mode: str = "RBAC",
        service_account_admission: bool = False,
        service_cidr: str = "10.0.0.0/24",
        bind_address: str = "127.0.0.1",
        advertise_address: str = "127.0.0.1",
    ) -> None:
        self._own_workdir = workdir is None
        self.authorization_mode = authorization_mode
        self.service_account_admission = service_account_admission
        self.service_cidr = service_cidr
        self.bind_address = bind_address
        self.advertise_address = advertise_address
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="homeport-apiserver-"))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._etcd_port = free_port()
        self._etcd_peer_port = free_port()
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._ca = _CA("homeport-test-ca")
        self.kubeconfig = self.workdir / "kubeconfig"
        self.ca_cert_path = self.workdir / "pki" / "ca.crt"
        self.ca_key_path = self.workdir / "pki" / "ca.key"
        self._write_pki()
        self.kubeconfig.write_text(self.user_kubeconfig_text("admin", ("system:masters",)))
        self.kubeconfig.chmod(0o600)

    # pki and kubeconfigs
    def _write_pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        (pki / "ca.crt").write_bytes(_pem_cert(self._ca.cert))
        self.ca_key_path.write_bytes(_pem_key(self._ca.key))
        self.ca_key_path.chmod(0o600)
        # The `kubernetes` Service's ClusterIP is the first address of the range.
        first = str(next(ipaddress.ip_network(self.service_cidr).hosts()))
        crt, key = self._ca.issue("kube-apiserver", server=True, ips=(first,))
        (pki / "serving.crt").write_bytes(crt)
        (pki / "serving.key").write_bytes(key)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (pki / "sa.key").write_bytes(_pem_key(sa))
        (pki / "sa.pub").write_bytes(
            sa.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def user_kubeconfig_text(
        self, user: str, groups: tuple[str, ...] = (), context: str = CONTEXT
    ) -> str:
        """A kubeconfig for a client-certificate user (RBAC decides what it may do).

        Args:
            user: The user name (certificate CN).
            groups: Its groups (certificate O).
            context: Context name (also the cluster and user entry names).

        Returns:
            The kubeconfig YAML.
        """
        crt, key = self._ca.issue(user, orgs=groups)
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        conf = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": b64(_pem_cert(self._ca.cert)),
                    },
                }
            ],
            "users": [
                {
                    "name": context,
                    "user": {"client-certificate-data": b64(crt), "client-key-data": b64(key)},
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        return str(yaml.safe_dump(conf, sort_keys=False))

    def write_user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """Write :meth:`user_kubeconfig_text` to a file in the work directory; return its path."""
        path = self.workdir / f"kubeconfig-{user}"
        path.write_text(self.user_kubeconfig_text(user, groups))
        path.chmod(0o600)
        return path

    # lifecycle
    def start(self) -> ApiServer:
        """Start etcd (if needed) and the API server; return when ``/readyz`` answers ok."""
        if self._etcd is None or self._etcd.poll() is not None:
            self._start_etcd()
        if self._apiserver is None or self._apiserver.poll() is not None:
            self._start_apiserver()
        return self

    def _start_etcd(self) -> None:
        data = self.workdir / "etcd"
        client = f"http://127.0.0.1:{self._etcd_port}"
        peer = f"http://127.0.0.1:{self._etcd_peer_port}"
        log = self.workdir / "etcd.log"
        args = [
            str(binary("etcd")),
            "--name=default",
            f"--data-dir={data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            # A test store: durability is not the point, speed is.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self._etcd = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._etcd.poll() is not None:
                raise RuntimeError(f"etcd exited with {self._etcd.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"etcd did not become healthy in {START_TIMEOUT:.0f}s:\n{_tail(log)}")

    def _start_apiserver(self) -> None:
        pki = self.workdir / "pki"
        log = self.workdir / "kube-apiserver.log"
        args = [
            str(binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{self._etcd_port}",
            f"--bind-address={self.bind_address}",
            f"--advertise-address={self.advertise_address}",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--tls-cert-file={pki / 'serving.crt'}",
            f"--tls-private-key-file={pki / 'serving.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={self.service_cidr}",
            f"--authorization-mode={self.authorization_mode}",
            "--allow-privileged=true",
            "--v=0",
        ]
        if not self.service_account_admission:
            # No controller manager creates the default ServiceAccount (envtest disables it too).
            args.append("--disable-admission-plugins=ServiceAccount")
        self._apiserver = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self._wait_ready(log)

    def _ssl_context(self) -> ssl.SSLContext:
        pki = self.workdir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        admin = self.workdir / "pki" / "probe"
        if not admin.with_suffix(".crt").exists():
            crt, key = self._ca.issue("readiness-probe", orgs=("system:masters",))
            admin.with_suffix(".crt").write_bytes(crt)
            admin.with_suffix(".key").write_bytes(key)
        ctx.load_cert_chain(str(admin.with_suffix(".crt")), str(admin.with_suffix(".key")))
        return ctx

    def _wait_ready(self, log: Path) -> None:
        ctx = self._ssl_context()
        deadline = time.monotonic() + START_TIMEOUT
        assert self._apiserver is not None
        while time.monotonic() < deadline:
            if self._apiserver.poll() is not None:
                raise RuntimeError(
                    f"kube-apiserver exited with {self._apiserver.returncode}:\n{_tail(log)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=3, context=ctx) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"kube-apiserver not ready in {START_TIMEOUT:.0f}s:\n{_tail(log)}")

    def stop_apiserver(self) -> None:
        """Stop the API server only (etcd and its data stay)."""
        _stop_process(self._apiserver)
        self._apiserver = None

    def restart_apiserver(self) -> None:
        """Start the API server again on the same port, over the same etcd data."""
        self.stop_apiserver()
        self.start()

    @contextlib.contextmanager
    def apiserver_stopped(self) -> Iterator[None]:
        """Context manager: the API server is down inside, back up (and ready) after."""
        self.stop_apiserver()
        try:
            yield
        finally:
            self.start()

    def pids(self) -> dict[str, int]:
        """Process ids of the running ``etcd`` and ``kube-apiserver``."""
        procs = {"etcd": self._etcd, "kube-apiserver": self._apiserver}
        return {k: p.pid for k, p in procs.items() if p is not None and p.poll() is None}

    @property
    def running(self) -> bool:
        """Whether the API server process is alive."""
        return self._apiserver is not None and self._apiserver.poll() is None

    def stop(self) -> None:
        """Stop both processes and remove the work directory (if this object created it)."""
        _stop_process(self._apiserver)
        _stop_process(self._etcd)
        self._apiserver = self._etcd = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


_SHARED: ApiServer | None = None


def shared_apiserver() -> ApiServer:
    """The one API server of this test process, started on first use and stopped at exit."""
    global _SHARED
    if _SHARED is None:
        _SHARED = ApiServer().start()
        atexit.register(_SHARED.stop)
    elif not _SHARED.running:
        _SHARED.start()
    return _SHARED
