"""A whole control plane with simulated nodes, for tests that need a cluster that reconciles.

Real upstream programs, each with its own client certificate: etcd and kube-apiserver
(``Node,RBAC``, ServiceAccount admission on), kube-controller-manager (every default
controller, node CIDR allocation, the in-tree hostPath provisioner) and kube-scheduler,
plus KWOK, which plays the kubelets of three Nodes: it marks them Ready, keeps their
leases, gives scheduled pods an IP from the node's podCIDR and runs them to Ready (or to
completion for Jobs), following KWOK's own default stages
(``../shared/upstream/kwok-v0.8.0-stages.yaml``). No container ever runs.

Everything runs inside a network namespace the test made (``tests/cluster/netns.py``):
:meth:`SimCluster.start` refuses to run in the host's. In it the Service and pod ranges
are local addresses and :meth:`SimCluster.expose` makes a loopback program answer at its
Service's ClusterIP (see ``kubeproxy.py``), the ``kubernetes`` Service included, so
in-cluster clients work with :meth:`SimCluster.in_cluster_env`. LoadBalancer Services
stay pending until :meth:`SimCluster.answer_load_balancers`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cluster.apiserver import ApiServer, _stop_process, _tail, binary, free_port
from homeport.cluster.kube import Kube, connect

from .kubeproxy import Forwarder, add_address, in_test_netns, make_local
from .metallb import MetalLBController
from .seed import kwok_node, storage_class
from .servicelb import ServiceLB

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
KWOK_STAGES = SHARED / "upstream" / "kwok-v0.8.0-stages.yaml"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_IPS = ("10.250.0.1", "10.250.0.2", "10.250.0.3")
# Where the API server says it is (the `kubernetes` Service's endpoint): loopback addresses
# are refused in Endpoints, so a control-plane address of the namespace.
CONTROL_PLANE_IP = "10.250.0.254"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
STORAGE_CLASS = "standard"
START_TIMEOUT = 120.0


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (``VmRSS`` of ``/proc/<pid>/status``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class SimCluster:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK with three Nodes.

    Attributes:
        api: The :class:`ApiServer` (its ``user_kubeconfig_text`` and friends work here too).
        workdir: Certificates, data, logs (``<component>.log``) and kubeconfigs.
        kubeconfig: Admin kubeconfig (``system:masters``).
        url: The API server's URL (``https://127.0.0.1:<port>``, inside the namespace).
        ca_cert_path: The cluster CA certificate.
        service_cidr: The Service range (its first address is the ``kubernetes`` Service).
        pod_cidr: The pod range (each node gets a /24 of it from the controller manager).
        nodes: Node name -> InternalIP.
        startup_seconds: How long :meth:`start` took.
    """

    def __init__(self, workdir: Path | None = None, *, nodes: int = 3) -> None:
        if not 1 <= nodes <= len(NODE_IPS):
            raise ValueError(f"nodes: 1 to {len(NODE_IPS)}, not {nodes}")
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="homeport-simcluster-"))
        self.service_cidr = SERVICE_CIDR
        self.pod_cidr = POD_CIDR
        self.api = ApiServer(
            self.workdir / "apiserver",
            authorization_mode="Node,RBAC",
            service_account_admission=True,
            service_cidr=self.service_cidr,
            bind_address="0.0.0.0",  # the namespace has only loopback
            advertise_address=CONTROL_PLANE_IP,
        )
        self.kubeconfig = self.api.kubeconfig
        self.url = self.api.url
        self.ca_cert_path = self.api.ca_cert_path
        self.nodes = {f"sim-node-{i + 1}": NODE_IPS[i] for i in range(nodes)}
        self.startup_seconds = 0.0
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._forwarders: dict[tuple[str, int], Forwarder] = {}
        self._servicelb: ServiceLB | None = None
        self._metallb: MetalLBController | None = None
        self._ports: dict[str, int] = {}

    # kubeconfigs ------------------------------------------------------------------------
    def write_user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig file for a client-certificate user (see ``ApiServer``)."""
        return self.api.write_user_kubeconfig(user, groups)

    def user_kubeconfig_text(self, user: str, groups: tuple[str, ...] = ()) -> str:
        """The kubeconfig YAML for a client-certificate user."""
        return self.api.user_kubeconfig_text(user, groups)

    def connect(self) -> Kube:
        """A homeport connection as admin (close it, or use it as a context manager)."""
        return connect(self.kubeconfig)

    def in_cluster_env(self) -> dict[str, str]:
        """``KUBERNETES_SERVICE_HOST``/``PORT`` as a pod sees them (the ``kubernetes`` Service)."""
        first = str(next(ipaddress.ip_network(self.service_cidr).hosts()))
        return {"KUBERNETES_SERVICE_HOST": first, "KUBERNETES_SERVICE_PORT": "443"}

    # lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> SimCluster:
        """Start every component; return once the nodes are Ready and the controllers work.

        Raises:
            RuntimeError: Called from the host's network namespace, or a component failed
                (its log's tail is in the message).
        """
        if not in_test_netns():
            raise RuntimeError(
                "SimCluster.start: the calling thread is not in a network namespace made for "
                "the test; enter one first (tests/cluster/netns.py network_namespace())"
            )
        began = time.monotonic()
        make_local(self.service_cidr)
        make_local(self.pod_cidr)
        for ip in (*self.nodes.values(), CONTROL_PLANE_IP):
            add_address(ip)
        self.api.start()
        with self.connect() as kube:
            for name, ip in self.nodes.items():
                node = kwok_node(name, ip, KWOK_ANNOTATION)
                kube.apply(node)
                kube.apply_status(node, field_manager="kubelet")
            kube.apply(storage_class(STORAGE_CLASS))
            while kube.get("v1", "Service", "kubernetes", "default") is None:  # made after /readyz
                if time.monotonic() > began + timeout:
                    raise RuntimeError("the API server made no `kubernetes` Service")
                time.sleep(0.1)
        self._start_controller_manager()
        self._start_scheduler()
        self._start_kwok()
        self.expose("default", "kubernetes", 443, self.api.port)
        self._wait_ready(began + timeout)
        self.startup_seconds = time.monotonic() - began
        return self

    def _component_kubeconfig(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(self.api.user_kubeconfig_text(user, groups))
        path.chmod(0o600)
        return path

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            self._procs[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

    def _start_controller_manager(self) -> None:
        kc = self._component_kubeconfig("kube-controller-manager", "system:kube-controller-manager")
        pki = self.api.workdir / "pki"
        port = self._ports["kube-controller-manager"] = free_port()
        # The hostPath provisioner makes each volume's directory under the fixed /tmp/hostpath_pv:
        # a tmpfs there, in a private mount namespace, keeps them off the host's /tmp.
        setup = (
            "set -e; mkdir -p /tmp/hostpath_pv; "
            'mount -t tmpfs -o size=16m homeport-hostpath /tmp/hostpath_pv; exec "$@"'
        )
        self._spawn(
            "kube-controller-manager",
            [
                *("unshare", "-m", "--propagation", "private", "sh", "-c", setup, "sh"),
                str(binary("kube-controller-manager")),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--use-service-account-credentials",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                "--controllers=*",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--cluster-name=homeport-sim",
                "--allocate-node-cidrs",
                f"--cluster-cidr={self.pod_cidr}",
                "--node-cidr-mask-size=24",
                f"--service-cluster-ip-range={self.service_cidr}",
                "--enable-hostpath-provisioner",
                "--v=1",
            ],
        )

    def _start_scheduler(self) -> None:
        kc = self._component_kubeconfig("kube-scheduler", "system:kube-scheduler")
        port = self._ports["kube-scheduler"] = free_port()
        self._spawn(
            "kube-scheduler",
            [
                str(binary("kube-scheduler")),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--v=1",
            ],
        )

    def _start_kwok(self) -> None:
        if not KWOK_STAGES.is_file():
            raise RuntimeError(f"{KWOK_STAGES} is missing (KWOK's default stages, from ../shared)")
        kc = self._component_kubeconfig("kwok", "kwok-controller", ("system:masters",))
        self._spawn(
            "kwok",
            [
                str(binary("kwok")),
                f"--kubeconfig={kc}",
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                f"--cidr={self.pod_cidr}",
                # Leases keep the nodes alive: the default stages send a status heartbeat
                # only every 10-20 min, and without a Lease the node lifecycle controller
                # marks the nodes Unknown after 50 s and every pod NotReady for good.
                "--node-lease-duration-seconds=40",
            ],
        )

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                log = self.workdir / f"{name}.log"
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")

    def _healthy(self, name: str) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # its self-signed serving certificate; loopback only
        url = f"https://127.0.0.1:{self._ports[name]}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _not_ready(self, kube: Kube) -> list[str]:
        waiting = [n for n in ("kube-controller-manager", "kube-scheduler") if not self._healthy(n)]
        nodes = {n["metadata"]["name"]: n for n in kube.list_objects("v1", "Node")}
        for name in self.nodes:
            node = nodes.get(name) or {}
            conds = (node.get("status") or {}).get("conditions") or []
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
            taints = [t["key"] for t in (node.get("spec") or {}).get("taints") or []]
            if not ready or not (node.get("spec") or {}).get("podCIDR") or taints:
                waiting.append(f"node {name} (ready={ready}, taints={taints})")
        if kube.get("v1", "ServiceAccount", "default", "default") is None:
            waiting.append("ServiceAccount default/default")
        return waiting

    def _wait_ready(self, deadline: float) -> None:
        waiting: list[str] = []
        with self.connect() as kube:
            while time.monotonic() < deadline:
                self._check_alive()
                waiting = self._not_ready(kube)
                if not waiting:
                    return
                time.sleep(0.25)
        raise RuntimeError(f"simulated cluster not ready: waiting for {', '.join(waiting)}")

    def stop(self) -> None:
        """Stop forwarders, load-balancer answerers and every process; remove the work dir."""
        for fwd in self._forwarders.values():
            fwd.close()
        self._forwarders.clear()
        if self._servicelb is not None:
            self._servicelb.stop()
            self._servicelb = None
        if self._metallb is not None:
            self._metallb.stop()
            self._metallb = None
        for proc in reversed(self._procs.values()):
            _stop_process(proc)
        self._procs.clear()
        self.api.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # service routing and load balancers -------------------------------------------------
    def forward(self, address: str, port: int, local_port: int) -> None:
        """Listen at ``address:port`` (in the namespace) and forward to ``127.0.0.1:local_port``."""
        if not in_test_netns():
            raise RuntimeError("SimCluster.forward: call it inside the test's network namespace")
        old = self._forwarders.pop((address, port), None)
        if old is not None:
            old.close()
        self._forwarders[(address, port)] = Forwarder(address, port, local_port)

    def connections(self, address: str, port: int) -> int:
        """How many TCP connections the forwarder at ``address:port`` has accepted (0: none)."""
        fwd = self._forwarders.get((address, port))
        return fwd.accepted if fwd is not None else 0

    def expose(self, namespace: str, service: str, port: int, local_port: int) -> None:
        """Make ``127.0.0.1:local_port`` answer at the Service's ClusterIP and ``port``.

        Raises:
            ValueError: The Service does not exist, has no ClusterIP, or lacks the port.
        """
        with self.connect() as kube:
            svc = kube.get("v1", "Service", service, namespace)
        if svc is None:
            raise ValueError(f"expose: Service {namespace}/{service} does not exist")
        ip = svc["spec"].get("clusterIP")
        if not ip or ip == "None":
            raise ValueError(f"expose: Service {namespace}/{service} has no ClusterIP")
        ports = [p["port"] for p in svc["spec"].get("ports") or []]
        if port not in ports:
            raise ValueError(f"expose: Service {namespace}/{service} has no port {port} ({ports})")
        self.forward(ip, port, local_port)

    def answer_load_balancers(self, kind: str) -> None:
        """Start what gives ``LoadBalancer`` Services an address.

        Args:
            kind: ``servicelb`` (a stand-in for k3s's ServiceLB, see ``servicelb.py``) or
                ``metallb`` (the real MetalLB controller, see ``metallb.py``).
        """
        if kind == "servicelb":
            if self._servicelb is None:
                self._servicelb = ServiceLB(self.kubeconfig)
        elif kind == "metallb":
            if self._metallb is None:
                kc = self._component_kubeconfig(
                    "metallb-controller", "metallb-controller", ("system:masters",)
                )
                self._metallb = MetalLBController(self.workdir, kc).start()
        else:
            raise ValueError(
                f"answer_load_balancers: kind must be servicelb or metallb, not {kind!r}"
            )

    # measurements -----------------------------------------------------------------------
    def pids(self) -> dict[str, int]:
        """Process ids of every running component."""
        out = self.api.pids()
        out.update({n: p.pid for n, p in self._procs.items() if p.poll() is None})
        if self._metallb is not None and self._metallb.pid is not None:
            out["metallb-controller"] = self._metallb.pid
        return out

    def resources(self) -> dict[str, int]:
        """Resident memory (bytes) of each running component process."""
        return {name: rss_bytes(pid) for name, pid in sorted(self.pids().items())}
