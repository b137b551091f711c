"""A stand-in for k3s's ServiceLB, the load balancer ``load_balancer.type: servicelb`` relies on.

ServiceLB lives inside the k3s binary (``pkg/cloudprovider/servicelb.go``, run by k3s's
cloud-controller-manager) and cannot be built or run on its own, so this thread redoes its
logic against the simulated cluster. Everything it delegates to stays real: for each
Service of ``type: LoadBalancer`` without a ``loadBalancerClass`` it

- adds the ``service.kubernetes.io/load-balancer-cleanup`` finalizer (the cloud-provider
  service controller's; deleting such a Service waits for the clean-up below);
- applies a DaemonSet ``svclb-<service>-<uid[:8]>`` in ``kube-system`` shaped like k3s's
  (one ``klipper-lb`` container per port, with ``hostPort`` = the Service port), which the
  real controller manager, scheduler and KWOK turn into Ready pods, one per node, so two
  Services on one port conflict as they do on k3s;
- writes ``status.loadBalancer.ingress``: the ExternalIPs (else InternalIPs) of the nodes
  running a Ready svclb pod, sorted (for ``externalTrafficPolicy: Local``, only nodes with
  a ready endpoint), as ``podIPs``/``getStatus`` in k3s do;
- on deletion (or when the Service stops wanting a load balancer), deletes the DaemonSet
  and removes the finalizer.

It polls (every ``interval`` seconds) instead of running informers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from lightkube import ApiError, Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.resources.apps_v1 import DaemonSet
from lightkube.resources.core_v1 import Node, Pod, Service, ServiceAccount
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.types import PatchType

LB_NAMESPACE = "kube-system"
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
SVC_NAME = "svccontroller.k3s.cattle.io/svcname"
SVC_NAMESPACE = "svccontroller.k3s.cattle.io/svcnamespace"
ENABLE_LB = "svccontroller.k3s.cattle.io/enablelb"
NODE_SELECTOR = "svccontroller.k3s.cattle.io/nodeselector"
KLIPPER_IMAGE = "rancher/klipper-lb:v0.4.9"
MANAGER = "service-lb-controller"

Obj = dict[str, Any]


def daemonset_name(svc: Obj) -> str:
    """k3s's ``generateName``: ``svclb-<name, at most 48 chars>-<uid[:8]>``."""
    name = svc["metadata"]["name"]
    if len(name) > 48:
        name = name[:48].rstrip("-")
    return f"svclb-{name}-{svc['metadata']['uid'][:8]}"


def daemonset(svc: Obj, node_selector: bool) -> Obj:
    """The DaemonSet k3s's ``newDaemonSet`` builds for a Service."""
    md, spec = svc["metadata"], svc["spec"]
    name = daemonset_name(svc)
    ranges = ",".join(spec.get("loadBalancerSourceRanges") or ["0.0.0.0/0"])
    containers = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        pname = f"lb-{proto.lower()}-{p['port']}"
        containers.append(
            {
                "name": pname,
                "image": KLIPPER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "ports": [
                    {
                        "name": pname,
                        "containerPort": p["port"],
                        "hostPort": p["port"],
                        "protocol": proto,
                    }
                ],
                "env": [
                    {"name": "SRC_PORT", "value": str(p["port"])},
                    {"name": "SRC_RANGES", "value": ranges},
                    {"name": "DEST_PROTO", "value": proto},
                    {"name": "DEST_PORT", "value": str(p["port"])},
                    {"name": "DEST_IPS", "value": ",".join(spec.get("clusterIPs") or [])},
                ],
                "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
            }
        )
    labels = {SVC_NAME: md["name"], SVC_NAMESPACE: md["namespace"]}
    pod_spec: Obj = {
        "priorityClassName": "system-node-critical",
        "serviceAccountName": "svclb",
        "automountServiceAccountToken": False,
        "securityContext": {"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]},
        "tolerations": [
            {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule",
            },
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
        ],
        "containers": containers,
    }
    if node_selector:
        pod_spec["nodeSelector"] = {ENABLE_LB: "true"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "namespace": LB_NAMESPACE,
            "labels": {NODE_SELECTOR: str(node_selector).lower(), **labels},
        },
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, **labels}}, "spec": pod_spec},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
        },
    }


def _ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class ServiceLB:
    """The stand-in controller (a daemon thread); :meth:`stop` ends it."""

    def __init__(self, kubeconfig: Path, interval: float = 0.3) -> None:
        self.interval = interval
        self.errors: list[str] = []
        self._client = Client(
            KubeConfig.from_file(kubeconfig), field_manager=MANAGER, trust_env=False
        )
        self._stop = threading.Event()
        md = {"name": "svclb", "namespace": LB_NAMESPACE}
        sa: Obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": md}
        self._client.patch(
            ServiceAccount,
            "svclb",
            sa,
            namespace=LB_NAMESPACE,
            patch_type=PatchType.APPLY,
            force=True,
        )
        self._thread = threading.Thread(target=self._run, name="servicelb", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
            except (ApiError, OSError) as exc:  # conflicts, a restarting API server: retry
                self.errors.append(str(exc))
                del self.errors[:-20]

    def _list(self, res: Any, namespace: str | None = "*", **kw: Any) -> list[Obj]:
        return [o.to_dict() for o in self._client.list(res, namespace=namespace, **kw)]

    def sync_once(self) -> None:
        """One pass over every Service (what the informers' events would trigger)."""
        nodes = {n["metadata"]["name"]: n for n in self._list(Node, namespace=None)}
        selector = any(ENABLE_LB in (n["metadata"].get("labels") or {}) for n in nodes.values())
        pods = self._list(Pod, LB_NAMESPACE, labels={SVC_NAME: None})
        for svc in self._list(Service):
            md, spec = svc["metadata"], svc["spec"]
            wants = spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")
            has_fin = FINALIZER in (md.get("finalizers") or [])
            if not wants or md.get("deletionTimestamp"):
                if has_fin:
                    self._cleanup(svc)
                continue
            if not has_fin:
                self._finalizers(svc, [*(md.get("finalizers") or []), FINALIZER])
            self._client.patch(
                DaemonSet,
                daemonset_name(svc),
                daemonset(svc, selector),
                namespace=LB_NAMESPACE,
                patch_type=PatchType.APPLY,
                force=True,
            )
            self._status(svc, self._ingress(svc, nodes, pods))

    def _ingress(self, svc: Obj, nodes: dict[str, Obj], pods: list[Obj]) -> list[str]:
        md = svc["metadata"]
        local = None
        if svc["spec"].get("externalTrafficPolicy") == "Local":
            local = set()
            sel = {"kubernetes.io/service-name": md["name"]}
            for eps in self._list(EndpointSlice, md["namespace"], labels=sel):
                for ep in eps.get("endpoints") or []:
                    ref = ep.get("targetRef") or {}
                    if ref.get("kind") == "Pod" and (ep.get("conditions") or {}).get("ready"):
                        local.add(ep.get("nodeName"))
        ext: set[str] = set()
        internal: set[str] = set()
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if (labels.get(SVC_NAME), labels.get(SVC_NAMESPACE)) != (md["name"], md["namespace"]):
                continue
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or not (pod.get("status") or {}).get("podIP") or not _ready(pod):
                continue
            if (local is not None and node not in local) or node not in nodes:
                continue
            for addr in nodes[node].get("status", {}).get("addresses") or []:
                {"ExternalIP": ext, "InternalIP": internal}.get(addr["type"], set()).add(
                    addr["address"]
                )
        ips = ext or internal
        families = svc["spec"].get("ipFamilies") or ["IPv4"]
        return sorted(ip for ip in ips if ("IPv6" if ":" in ip else "IPv4") in families)

    def _status(self, svc: Obj, ips: list[str]) -> None:
        want = [{"ip": ip} for ip in ips]
        have = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if have != want:
            body = {"status": {"loadBalancer": {"ingress": want or None}}}
            self._client.patch(
                Service.Status,
                svc["metadata"]["name"],
                body,
                namespace=svc["metadata"]["namespace"],
                patch_type=PatchType.MERGE,
            )

    def _finalizers(self, svc: Obj, finalizers: list[str]) -> None:
        md = svc["metadata"]
        body = {"metadata": {"finalizers": finalizers, "resourceVersion": md["resourceVersion"]}}
        self._client.patch(
            Service, md["name"], body, namespace=md["namespace"], patch_type=PatchType.MERGE
        )

    def _cleanup(self, svc: Obj) -> None:
        try:
            self._client.delete(DaemonSet, daemonset_name(svc), namespace=LB_NAMESPACE)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
        if not svc["metadata"].get("deletionTimestamp"):
            self._status(svc, [])
        rest = [f for f in svc["metadata"]["finalizers"] if f != FINALIZER]
        self._finalizers(svc, rest)

    def stop(self) -> None:
        """End the thread and close the client."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()
