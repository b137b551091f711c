"""The simulated cluster harness works like a small real cluster (tests/sync/simcluster.py).

Real: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (upstream
builds), in a network namespace made for the module, and the Sealed Secrets controller as
an in-cluster client. Stand-in: ServiceLB (k3s's, which only
exists inside the k3s binary; see servicelb.py). Simulated by KWOK: the kubelets, so pods
become Ready without any container running.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.resources.core_v1 import Service

from cluster.netns import interfaces
from cluster.sealed_controller import SealedSecretsController
from homeport.cluster.apply import pinned_crds
from homeport.cluster.kube import Kube, Obj

from .probes import (
    available,
    cond,
    deployment,
    in_host_netns,
    ingress,
    once,
    service,
    wait_for,
)
from .servicelb import FINALIZER, LB_NAMESPACE, daemonset_name
from .simcluster import NODE_IPS, SimCluster


def test_three_ready_nodes_in_an_isolated_namespace(sim_cluster: SimCluster, kube: Kube) -> None:
    """Three KWOK nodes, Ready, each with its InternalIP and a /24 of the pod range."""
    nodes = {n["metadata"]["name"]: n for n in kube.list_objects("v1", "Node")}
    assert sorted(nodes) == ["sim-node-1", "sim-node-2", "sim-node-3"]
    pod_range = ipaddress.ip_network(sim_cluster.pod_cidr)
    cidrs = set()
    for name, node in nodes.items():
        assert cond(node, "Ready") == "True", name
        ips = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
        assert ips == [sim_cluster.nodes[name]]
        assert node["status"]["allocatable"]["cpu"] == "8"
        cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
        assert cidr.subnet_of(pod_range) and cidr.prefixlen == 24  # type: ignore[arg-type]
        cidrs.add(cidr)
    assert len(cidrs) == 3
    assert interfaces() == ["lo"]  # the namespace reaches nothing outside it
    assert sim_cluster.startup_seconds > 0
    print(f"\nstart-up: {sim_cluster.startup_seconds:.1f}s")


def test_start_refuses_the_host_namespace() -> None:
    """Negative control: outside a test namespace nothing is started."""
    sim = SimCluster()
    try:
        with pytest.raises(RuntimeError, match="not in a network namespace made for the test"):
            in_host_netns(sim.start)
        assert sim.pids() == {}
    finally:
        sim.stop()


def test_deployment_spreads_and_becomes_available(
    sim_cluster: SimCluster, kube: Kube, ns: str
) -> None:
    """The scheduler places one replica per node; KWOK runs them; the Deployment is Available."""
    spread = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    kube.apply(deployment(ns, "web", 3, topologySpreadConstraints=[spread]))
    dep = wait_for("Deployment web Available", available(kube, ns, "web", 3))
    assert dep["status"]["availableReplicas"] == 3
    pods = kube.list_objects("v1", "Pod", ns, labels={"app": "web"})
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(sim_cluster.nodes)
    nodes = {n["metadata"]["name"]: n for n in kube.list_objects("v1", "Node")}
    for p in pods:
        cidr = ipaddress.ip_network(nodes[p["spec"]["nodeName"]]["spec"]["podCIDR"])
        assert ipaddress.ip_address(p["status"]["podIP"]) in cidr
        assert p["status"]["hostIP"] == sim_cluster.nodes[p["spec"]["nodeName"]]


def test_impossible_node_selector_stays_pending(kube: Kube, ns: str) -> None:
    """Negative control: no node matches, so the real scheduler leaves the pod Pending."""
    kube.apply(deployment(ns, "nowhere", 1, nodeSelector={"disktype": "none-such"}))

    def failed_scheduling() -> list[Obj]:
        events = kube.list_objects("v1", "Event", ns)
        return [e for e in events if e.get("reason") == "FailedScheduling"]

    event = wait_for("a FailedScheduling event", failed_scheduling)[0]
    assert "didn't match Pod's node affinity/selector" in event["message"]
    pods = kube.list_objects("v1", "Pod", ns)
    assert [p["status"]["phase"] for p in pods] == ["Pending"]
    assert cond(pods[0], "PodScheduled") == "False"
    dep = kube.get("apps/v1", "Deployment", "nowhere", ns)
    assert cond(dep, "Available") == "False"
    assert not (dep or {})["status"].get("readyReplicas")


def test_job_completes(kube: Kube, ns: str) -> None:
    """The Job controller runs two pods; KWOK completes them; the Job is Complete."""
    pod = {
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "registry.invalid/job:1"}],
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once", "namespace": ns},
        "spec": {"completions": 2, "template": {"spec": pod}},
    }
    kube.apply(job)
    complete = once(kube, "batch/v1", "Job", "once", ns, lambda j: cond(j, "Complete") == "True")
    done = wait_for("Job Complete", complete)
    assert done["status"]["succeeded"] == 2
    phases = [p["status"]["phase"] for p in kube.list_objects("v1", "Pod", ns)]
    assert phases == ["Succeeded", "Succeeded"]


def test_pvc_of_the_default_class_binds(kube: Kube, ns: str) -> None:
    """The in-tree hostPath provisioner makes a PV; the pod using the claim runs."""
    pvc: Obj = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    kube.apply(pvc)
    is_bound = lambda c: c["status"].get("phase") == "Bound"  # noqa: E731
    bound = wait_for("PVC Bound", once(kube, "v1", "PersistentVolumeClaim", "data", ns, is_bound))
    assert bound["spec"]["storageClassName"] == "standard"  # the default class, by admission
    pv = kube.get("v1", "PersistentVolume", bound["spec"]["volumeName"])
    assert pv is not None and pv["spec"]["claimRef"]["name"] == "data"
    assert pv["spec"]["hostPath"]["path"].startswith("/tmp/hostpath_pv/")
    assert not Path(pv["spec"]["hostPath"]["path"]).exists()  # made in the provisioner's tmpfs
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    mount = {"name": "data", "mountPath": "/data"}
    container = {"name": "c", "image": "registry.invalid/db:1", "volumeMounts": [mount]}
    kube.apply(deployment(ns, "db", 1, volumes=[volume], containers=[container]))
    wait_for("the pod using the claim Ready", available(kube, ns, "db", 1))
    # Negative control: a claim of a class nobody provisions stays Pending.
    pvc["metadata"]["name"] = "orphan"
    pvc["spec"]["storageClassName"] = "none-such"
    kube.apply(pvc)
    time.sleep(2)
    orphan = kube.get("v1", "PersistentVolumeClaim", "orphan", ns)
    assert (orphan or {})["status"].get("phase") == "Pending"


def test_load_balancer_pending_until_servicelb_answers(
    sim_cluster: SimCluster, kube: Kube, ns: str
) -> None:
    """Pending first (nothing answers); ServiceLB then gives it every node's address.

    A second Service on the same port gets no address while the first holds the port:
    its svclb pods cannot be scheduled (hostPort), as on k3s. Deleting the first one runs
    the finalizer's clean-up and frees the port.
    """
    kube.apply(service(ns, "lb", 8080, "LoadBalancer"))
    time.sleep(2)  # negative control: the controller manager has no cloud provider
    assert ingress(kube, ns, "lb") == []
    sim_cluster.answer_load_balancers("servicelb")
    every_node = sorted(NODE_IPS)
    wait_for("every node's address", lambda: ingress(kube, ns, "lb") == every_node)
    svc = kube.get("v1", "Service", "lb", ns) or {}
    assert FINALIZER in svc["metadata"]["finalizers"]
    name = daemonset_name(svc)
    assert kube.get("apps/v1", "DaemonSet", name, LB_NAMESPACE) is not None
    ports = [
        c["ports"][0]["hostPort"]
        for p in kube.list_objects("v1", "Pod", LB_NAMESPACE, labels={"app": name})
        for c in p["spec"]["containers"]
    ]
    assert ports == [8080, 8080, 8080]

    kube.apply(service(ns, "lb2", 8080, "LoadBalancer"))
    svc2 = kube.get("v1", "Service", "lb2", ns) or {}

    def unschedulable() -> list[Obj] | None:
        got = kube.list_objects("v1", "Pod", LB_NAMESPACE, labels={"app": daemonset_name(svc2)})
        stuck = [p for p in got if cond(p, "PodScheduled") == "False"]
        return stuck if len(stuck) == 3 else None

    pending = wait_for("three unschedulable svclb pods of lb2", unschedulable)
    assert all(p["status"]["phase"] == "Pending" for p in pending)
    assert ingress(kube, ns, "lb2") == []

    with Client(KubeConfig.from_file(sim_cluster.kubeconfig), trust_env=False) as client:
        client.delete(Service, "lb", namespace=ns)
    wait_for("lb deleted", lambda: kube.get("v1", "Service", "lb", ns) is None)
    wait_for("lb2 gets every node's address", lambda: ingress(kube, ns, "lb2") == every_node)


def echo_server() -> tuple[socket.socket, int]:
    """A TCP server on loopback that answers ``pong:<what it read>``."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"pong:" + conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def route(ip: str) -> str:
    """``ip route get`` in the calling thread's namespace (its answer, or its error)."""
    out = subprocess.run(["ip", "-o", "route", "get", ip], capture_output=True, text=True)
    return out.stdout + out.stderr


def test_expose_answers_at_the_cluster_ip(sim_cluster: SimCluster, kube: Kube, ns: str) -> None:
    """A loopback program answers at its Service's ClusterIP, only inside the namespace."""
    srv, port = echo_server()
    try:
        ip = kube.apply(service(ns, "hook", 9443))["spec"]["clusterIP"]
        other = kube.apply(service(ns, "other", 9443))["spec"]["clusterIP"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(sim_cluster.service_cidr)
        sim_cluster.expose(ns, "hook", 9443, port)
        with socket.create_connection((ip, 9443), timeout=5) as c:
            c.sendall(b"ping")
            assert c.recv(100) == b"pong:ping"
        # Negative controls: an unexposed Service refuses; the host has no such address.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((other, 9443), timeout=5)
        with pytest.raises(ValueError, match="has no port 80"):
            sim_cluster.expose(ns, "hook", 80, port)

        # A routing lookup sends nothing: the address is local here, not on the host.
        assert route(ip).startswith("local ")
        assert not in_host_netns(lambda: route(ip)).startswith("local ")
        assert interfaces() == ["lo"]
    finally:
        srv.close()


def test_in_cluster_clients_and_service_account_tokens(
    sim_cluster: SimCluster, kube: Kube, ns: str
) -> None:
    """A token of the ``default`` ServiceAccount authenticates at the ``kubernetes`` Service."""
    env = sim_cluster.in_cluster_env()
    assert env == {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    cm = wait_for("kube-root-ca.crt", lambda: kube.get("v1", "ConfigMap", "kube-root-ca.crt", ns))
    assert cm["data"]["ca.crt"] == sim_cluster.ca_cert_path.read_text()
    path = f"/api/v1/namespaces/{ns}/serviceaccounts/default/token"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    token = kube.raw_post(path, body)["status"]["token"]
    # What client-go's in-cluster config does: https://$HOST:$PORT, the CA, the bearer token.
    url = f"https://{env['KUBERNETES_SERVICE_HOST']}:{env['KUBERNETES_SERVICE_PORT']}"
    ctx = ssl.create_default_context(cafile=str(sim_cluster.ca_cert_path))
    review = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})

    def whoami(bearer: str) -> Any:
        req = urllib.request.Request(
            f"{url}/apis/authentication.k8s.io/v1/selfsubjectreviews",
            data=review.encode(),
            headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return json.load(resp)

    user = whoami(token)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{ns}:default"
    with pytest.raises(urllib.error.HTTPError, match="401"):
        whoami(token[:-4] + "AAAA")  # negative control: a forged signature
    # ServiceAccount admission gives pods the token volume.
    kube.apply(deployment(ns, "sa", 1))
    wait_for("Deployment sa Available", available(kube, ns, "sa", 1))
    pod = kube.list_objects("v1", "Pod", ns)[0]
    assert pod["spec"]["serviceAccountName"] == "default"
    assert any(v["name"].startswith("kube-api-access-") for v in pod["spec"]["volumes"])


def test_a_real_in_cluster_program_works(sim_cluster: SimCluster, kube: Kube) -> None:
    """The Sealed Secrets controller (client-go, in-cluster config only) runs against the
    ``kubernetes`` Service's ClusterIP with a ServiceAccount token, and makes its key."""
    for crd in pinned_crds(["sealed-secrets"]):
        kube.apply(crd)
    sa = {"name": "sealed-secrets", "namespace": "kube-system"}
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa})
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "sealed-secrets-test"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", **sa}],
        }
    )
    env = sim_cluster.in_cluster_env()
    ctl = SealedSecretsController(
        sim_cluster.api, kube, service_account="sealed-secrets", in_cluster_env=env
    )
    with ctl:
        keys = wait_for(
            "a sealing key",
            lambda: kube.list_objects(
                "v1",
                "Secret",
                "kube-system",
                labels={"sealedsecrets.bitnami.com/sealed-secrets-key": None},
            ),
        )
    assert len(keys) == 1
    assert f"{env['KUBERNETES_SERVICE_HOST']}:443" in ctl.log_text() or keys


def test_resources_reports_each_process(sim_cluster: SimCluster) -> None:
    """Resident memory of every component, for the report."""
    rss = sim_cluster.resources()
    names = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    assert names <= set(rss)
    assert all(v > 5 * 2**20 for v in rss.values()), rss
    print("\nRSS MiB: " + ", ".join(f"{k}={v / 2**20:.0f}" for k, v in rss.items()))
