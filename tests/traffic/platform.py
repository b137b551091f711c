"""The seed's request path, assembled from real parts inside a private network namespace.

Real: kube-apiserver + etcd (tests/cluster harness), the pinned Traefik CRDs, the Traefik
chart expanded by the real Helm with the values homeport renders (RBAC, ``default`` TLSStore
and TLSOption, the Deployment whose container args Traefik is started with), homeport's
rendered namespaces, IngressRoutes, Middlewares and Services, the real Traefik binary
reading the API server as the chart's ServiceAccount, and real traefik/whoami backends.

Stand-ins, each said where it is built:
* the Authentik server and its embedded outpost (outpost.py), reached at the forward-auth
  address the Middleware names; cluster DNS is an ``/etc/hosts`` entry in a private mount
  namespace of the Traefik process;
* the wildcard certificate comes from a throwaway CA (cert-manager issues it in a cluster);
* Services that charts not expanded here would create (Grafana's, from
  kube-prometheus-stack, whose grafana sub-chart is not vendored) are created with the port
  the route names; Argo CD's comes from its pinned install manifest, Authentik's from its
  chart expanded with homeport's values;
* EndpointSlices (the endpoint controller does not run) point at the backends.

Traefik listens on 198.51.100.10:80/:443 (the chart's :8000/:8443 are the container ports
behind the LoadBalancer's 80/443; the namespace has no LoadBalancer, so only those two
listen addresses are overridden); the backends listen on 198.51.100.20 (the "pod" address
the EndpointSlices name).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster.apiserver import ApiServer, binary, free_port, self_signed_ca
from homeport.cluster.apply import apply_objects, load_manifest, load_manifest_text, pinned_crds
from homeport.cluster.kube import Kube, Obj, connect
from homeport.config import HomeportConfig, load_config
from homeport.gitops import render_tree
from homeport.platform import authentik, traefik
from homeport.versions import KUBERNETES_VERSION

from .netns import NetNS
from .outpost import Outpost

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "homeport.yaml"
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
FLOW_KINDS = {"Namespace", "IngressRoute", "Middleware", "Service", "TraefikService"}
WEB, WEBSECURE, TRAEFIK_EP = 80, 443, 8080
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- certificates ---------------------------------------------------------------------------


@dataclass
class TestCA:
    """A throwaway CA that issues the wildcard certificate (cert-manager does in a cluster)."""

    key: Any = field(init=False)

    def __post_init__(self) -> None:
        self.key, self.cert = self_signed_ca(
            "homeport traffic test CA", dt.timedelta(days=365), dt.timedelta(days=1)
        )

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, names: list[str], *, days: int = 90, expired: bool = False
    ) -> tuple[bytes, bytes]:
        """A server certificate for ``names``; ``expired`` makes one that ended yesterday."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = (
            (now - dt.timedelta(days=days + 1), now - dt.timedelta(days=1))
            if expired
            else (now - dt.timedelta(hours=1), now + dt.timedelta(days=days))
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def tls_secret(name: str, namespace: str, crt: bytes, key: bytes) -> Obj:
    """A ``kubernetes.io/tls`` Secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(crt).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }


# --- Helm ----------------------------------------------------------------------------------


def helm_template(chart: Path, release: str, namespace: str, values: Obj) -> list[Obj]:
    """Expand a chart with the real Helm the way Argo CD's repo-server does."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(values, f)
        f.flush()
        proc = subprocess.run(
            [
                str(binary("helm")),
                "template",
                release,
                str(chart),
                "--namespace",
                namespace,
                "--values",
                f.name,
                "--kube-version",
                KUBERNETES_VERSION,
                # Built-in groups the API server serves, as Argo CD passes them.
                "--api-versions",
                "policy/v1",
                "--api-versions",
                "networking.k8s.io/v1",
                "--api-versions",
                "traefik.io/v1alpha1",
                # The platform installs the Prometheus Operator CRDs (monitoring component).
                "--api-versions",
                "monitoring.coreos.com/v1",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode:
        raise RuntimeError(f"helm template {chart.name} failed:\n{proc.stderr}")
    return load_manifest_text(proc.stdout, f"helm template {chart.name}")


def app_values(tree: dict[str, str], app: str) -> Obj:
    """The ``valuesObject`` of a rendered chart Application."""
    doc = yaml.safe_load(tree[f"apps/{app}.yaml"])
    values: Obj = doc["spec"]["source"]["helm"]["valuesObject"]
    return values


def traefik_args(chart_objs: list[Obj]) -> tuple[list[str], dict[str, str]]:
    """Container args and plain env of the chart's Traefik Deployment."""
    dep = next(o for o in chart_objs if o["kind"] == "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    # Values from the downward API (pod name, resource limits) are set by the caller.
    env = {e["name"]: e["value"] for e in container.get("env", []) if e.get("value")}
    return list(container["args"]), env


def override_listen(args: list[str], address: str) -> list[str]:
    """Listen on ``address`` 80/443 where the chart says :8000/:8443 (the LoadBalancer's job)."""
    out = []
    for a in args:
        m = re.match(r"--entry[pP]oints\.(web|websecure)\.address=:(\d+)(/\w+)?$", a)
        if m:
            port = WEB if m.group(1) == "web" else WEBSECURE
            a = f"--entryPoints.{m.group(1)}.address={address}:{port}{m.group(3) or ''}"
        out.append(a)
    return out


# --- the platform -------------------------------------------------------------------------


@dataclass
class Backend:
    """A Service a route names, and the whoami (or outpost) port behind it."""

    namespace: str
    service: str
    port_name: str
    port: int


@dataclass
class Flow:
    """Everything running for one traffic-flow session; see the module docstring."""

    cfg: HomeportConfig
    workdir: Path
    ns: NetNS
    api: ApiServer
    kube: Kube
    ca: TestCA
    outpost: Outpost
    routes: list[Obj]
    sso_hosts: list[str]
    public_hosts: list[str]
    backends: list[Backend]
    traefik_args: list[str]
    traefik_env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    traefik_proc: subprocess.Popen[bytes] | None = None
    traefik_log: Path | None = None

    @property
    def address(self) -> str:
        """The address Traefik and the backends listen on (the LoadBalancer's, in a cluster)."""
        return self.ns.address

    @property
    def ca_file(self) -> Path:
        """The test CA, PEM."""
        path = self.workdir / "ca.pem"
        path.write_bytes(self.ca.pem)
        return path

    # Traefik
    def start_traefik(self, extra_args: list[str] | None = None) -> Path:
        """Start Traefik (inside the namespace); return its log file."""
        self.stop_traefik()
        hosts = self.workdir / "hosts"
        # Cluster DNS stand-in: the forward-auth address's Service name -> the outpost.
        svc = f"{authentik.SERVER_SERVICE}.{authentik.NAMESPACE}.svc.cluster.local"
        hosts.write_text(f"127.0.0.1 localhost\n{self.ns.pod_address} {svc}\n")
        kubeconfig = self.api.write_user_kubeconfig(
            f"system:serviceaccount:{traefik.NAMESPACE}:traefik",
            ("system:serviceaccounts", f"system:serviceaccounts:{traefik.NAMESPACE}"),
        )
        log = self.workdir / f"traefik-{len(self.procs)}.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": str(kubeconfig),
            **self.traefik_env,
            "POD_NAME": "traefik-test",
            "POD_NAMESPACE": traefik.NAMESPACE,
        }
        cmd = [
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"',
            str(hosts),
            str(binary("traefik")),
            *self.traefik_args,
            *(extra_args or []),
        ]
        with self.ns.inside():
            proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.traefik_proc, self.traefik_log = proc, log
        return log

    def stop_traefik(self) -> None:
        """Stop Traefik if it runs."""
        if self.traefik_proc is not None and self.traefik_proc.poll() is None:
            self.traefik_proc.terminate()
            self.traefik_proc.wait(timeout=20)
        self.traefik_proc = None

    def traefik_api(self, path: str) -> Any:
        """GET Traefik's API on its ``traefik`` entry point (ping and API, inside the namespace)."""
        with self.ns.inside():
            url = f"http://127.0.0.1:{TRAEFIK_EP}{path}"
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read() or b"null")

    def wait_traefik(self, routers: int, timeout: float = 60.0) -> None:
        """Wait until Traefik answers ping and its dashboard route lists ``routers`` routers.

        With ``routers=0`` only ping is awaited, plus a moment for the provider to load
        (for a broken configuration, whose dashboard route may not work).
        """
        assert self.traefik_proc is not None and self.traefik_log is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.traefik_proc.poll() is not None:
                raise RuntimeError(f"traefik exited:\n{self.traefik_log.read_text()[-4000:]}")
            try:
                with (
                    self.ns.inside(),
                    urllib.request.urlopen(
                        f"http://127.0.0.1:{TRAEFIK_EP}/ping", timeout=2
                    ) as resp,
                ):
                    ok = resp.status == 200
                if ok and not routers:
                    time.sleep(3)
                    return
                if ok and len(self.api_routers()) >= routers:
                    return
            except (urllib.error.URLError, OSError, RuntimeError) as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"traefik not ready ({last}):\n{self.traefik_log.read_text()[-4000:]}")

    def api_routers(self) -> list[Obj]:
        """Traefik's own ``/api/http/routers``, read through the SSO-protected dashboard route."""
        from .probe import fetch  # local: probe imports nothing from here

        resp = fetch(
            self,
            f"https://traefik.{self.cfg.domain}/api/http/routers",
            session=True,
        )
        if resp.status != 200:
            raise RuntimeError(f"dashboard API answered {resp.status}")
        routers: list[Obj] = json.loads(resp.body)
        return routers

    def log_lines(self, levels: tuple[str, ...] = ("ERR", "WRN")) -> list[str]:
        """Traefik log lines at the given levels (its default console format, colours removed)."""
        assert self.traefik_log is not None
        text = ANSI.sub("", self.traefik_log.read_text(errors="replace"))
        pattern = re.compile(rf"^\S+ ({'|'.join(levels)}) ")
        return [ln for ln in text.splitlines() if pattern.match(ln)]

    def close(self) -> None:
        """Stop every process, the API server and the namespace."""
        self.stop_traefik()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.outpost.stop()
        self.kube.close()
        with self.ns.inside():
            self.api.stop()
        self.ns.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _route_hosts(routes: list[Obj]) -> tuple[list[str], list[str]]:
    sso: list[str] = []
    public: list[str] = []
    for r in routes:
        for rule in r["spec"]["routes"]:
            host = re.search(r"Host\(`([^`]+)`\)", rule["match"])
            assert host, rule["match"]
            names = {m["name"] for m in rule.get("middlewares", [])}
            (sso if traefik.SSO_MIDDLEWARE in names else public).append(host.group(1))
    return sorted(sso), sorted(public)


def _endpoint_slice(b: Backend, address: str) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{b.service}-test",
            "namespace": b.namespace,
            "labels": {"kubernetes.io/service-name": b.service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": b.port_name, "port": b.port, "protocol": "TCP"}],
    }


def build(config: Path = EXAMPLE) -> Flow:
    """Start everything but Traefik; see the module docstring for what is real."""
    cfg = load_config(config)
    tree = render_tree(cfg).files
    workdir = Path(tempfile.mkdtemp(prefix="homeport-traffic-"))
    ns = NetNS()
    with ns.inside():
        api = ApiServer(workdir / "apiserver").start()
        kube = connect(api.kubeconfig).__enter__()
    try:
        return _populate(cfg, tree, workdir, ns, api, kube)
    except BaseException:
        kube.close()
        with ns.inside():
            api.stop()
        ns.close()
        raise


def _populate(
    cfg: HomeportConfig, tree: dict[str, str], workdir: Path, ns: NetNS, api: ApiServer, kube: Kube
) -> Flow:
    with ns.inside():
        apply_objects(kube, pinned_crds(["traefik"]))
        rendered: list[Obj] = []
        for path, text in sorted(tree.items()):
            if path.endswith(".yaml") and path.startswith("components/"):
                rendered += [o for o in load_manifest_text(text, path) if o["kind"] in FLOW_KINDS]
        chart = helm_template(
            SHARED / "charts" / f"traefik-{traefik_chart_version()}",
            "traefik",
            traefik.NAMESPACE,
            app_values(tree, "traefik"),
        )
        args, env = traefik_args(chart)
        # Everything the chart creates except what needs a controller or a missing CRD.
        chart_objs = [
            o
            for o in chart
            if o["kind"] not in {"Deployment", "ServiceMonitor", "PodDisruptionBudget"}
        ]
        extra = _chart_services(tree)
        ca = TestCA()
        crt, key = ca.issue([cfg.domain, f"*.{cfg.domain}"])
        secret = tls_secret(traefik.WILDCARD_SECRET, traefik.NAMESPACE, crt, key)
        apply_objects(kube, [*rendered, *chart_objs, *extra, secret])
        routes = [o for o in rendered if o["kind"] == "IngressRoute"]
        services = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o
            for o in [*rendered, *extra]
            if o["kind"] == "Service"
        }
        outpost = Outpost(authentik_host(cfg), ns.pod_address).start()
        backends, procs = _backends(routes, services)
        kube_slices = [_endpoint_slice(b, ns.pod_address) for b in backends]
        apply_objects(kube, kube_slices)
    sso, public = _route_hosts(routes)
    return Flow(
        cfg,
        workdir,
        ns,
        api,
        kube,
        ca,
        outpost,
        routes,
        sso,
        public,
        backends,
        override_listen(args, ns.address),
        env,
        procs=procs,
    )


def authentik_host(cfg: HomeportConfig) -> str:
    """``auth.<domain>``."""
    return authentik.auth_host(cfg)


def traefik_chart_version() -> str:
    """The pinned chart version."""
    from homeport.versions import TRAEFIK_CHART_VERSION

    return TRAEFIK_CHART_VERSION


def _chart_services(tree: dict[str, str]) -> list[Obj]:
    """Services that charts create and routes name, from the real chart/manifest where here."""
    out: list[Obj] = []
    argocd = load_manifest(Path(os.environ["HOMEPORT_ARGOCD_MANIFEST"]))
    out += [
        {**o, "metadata": {**o["metadata"], "namespace": "argocd"}}
        for o in argocd
        if o["kind"] == "Service" and o["metadata"]["name"] == "argocd-server"
    ]
    ak_chart = next(iter(sorted((SHARED / "charts").glob("authentik-*"))))
    ak = helm_template(ak_chart, "authentik", authentik.NAMESPACE, app_values(tree, "authentik"))
    out += [
        {**o, "metadata": {**o["metadata"], "namespace": authentik.NAMESPACE}}
        for o in ak
        if o["kind"] == "Service" and o["metadata"]["name"] == authentik.SERVER_SERVICE
    ]
    # Stand-in: kube-prometheus-stack's grafana sub-chart is not vendored in ../shared.
    out.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-prometheus-stack-grafana", "namespace": "monitoring"},
            "spec": {"ports": [{"name": "http-web", "port": 80, "targetPort": 3000}]},
        }
    )
    return out


def _backends(
    routes: list[Obj], services: dict[tuple[str, str], Obj]
) -> tuple[list[Backend], list[subprocess.Popen[bytes]]]:
    backends: list[Backend] = []
    procs: list[subprocess.Popen[bytes]] = []
    for r in routes:
        for rule in r["spec"]["routes"]:
            for s in rule["services"]:
                if s.get("kind") == "TraefikService":
                    continue
                ns = s.get("namespace", r["metadata"]["namespace"])
                svc = services.get((ns, s["name"]))
                if svc is None:
                    raise RuntimeError(
                        f"route {ns}/{r['metadata']['name']}: no Service {s['name']}"
                    )
                port = next(
                    p
                    for p in svc["spec"]["ports"]
                    if p["port"] == s["port"] or p.get("name") == s["port"]
                )
                if (ns, s["name"]) == (authentik.NAMESPACE, authentik.SERVER_SERVICE):
                    backends.append(Backend(ns, s["name"], port.get("name", ""), 80))
                    continue
                listen = free_port()  # free in this namespace: called inside it
                procs.append(
                    subprocess.Popen(
                        [str(binary("whoami")), "-port", str(listen), "-name", f"{ns}/{s['name']}"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                backends.append(Backend(ns, s["name"], port.get("name", ""), listen))
    return backends, procs
