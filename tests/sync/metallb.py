"""The real MetalLB controller (``go.universe.tf/metallb/controller``), run out of cluster.

Built by ``scripts/build-tools.sh`` as ``metallb-controller`` at the chart's app version.
It reads IPAddressPools (and the other ``metallb.io`` resources) from the cluster and
assigns LoadBalancer Services an address from them, as in a real install; the speaker,
which would announce the address on the network, is not run (nothing here to announce to).
Its webhook (cert rotation included) is off: the chart's ValidatingWebhookConfiguration is
not installed by this harness. Its metrics and health ports listen in the test's network
namespace (upstream binds them on every interface).

At start it reads its own Pod (``--pod-name``; owner of the ConfigurationState it writes),
so a controller pod must exist: the chart's (``app.kubernetes.io/name: metallb``,
``component: controller``) when the chart was installed, else a one-replica Deployment of
the same labels that KWOK runs, standing for it.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cluster.apiserver import _stop_process, _tail, binary, free_port
from homeport.cluster.apply import pinned_crds
from homeport.cluster.kube import Kube, Obj, connect

NAMESPACE = "metallb-system"
POD_LABELS = {"app.kubernetes.io/name": "metallb", "app.kubernetes.io/component": "controller"}
IMAGE = "quay.io/metallb/controller:v0.16.1"


def _stand_in_deployment() -> Obj:
    labels = {**POD_LABELS, "app.kubernetes.io/instance": "metallb"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "metallb-controller", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "controller", "image": IMAGE}]},
            },
        },
    }


def controller_pod(kube: Kube, timeout: float = 30.0) -> str:
    """The name of a Running MetalLB controller pod (making a stand-in one when none exists)."""
    deadline = time.monotonic() + timeout
    made = False
    while time.monotonic() < deadline:
        pods = kube.list_objects("v1", "Pod", NAMESPACE, labels=dict(POD_LABELS))
        running = sorted(
            p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"
        )
        if running:
            return running[0]
        if not pods and not made:
            kube.apply(_stand_in_deployment())
            made = True
        time.sleep(0.25)
    raise RuntimeError(f"no Running MetalLB controller pod in {NAMESPACE} after {timeout:.0f}s")


class MetalLBController:
    """One ``metallb-controller`` process (its log is ``metallb-controller.log`` in workdir)."""

    def __init__(self, workdir: Path, kubeconfig: Path) -> None:
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.log = workdir / "metallb-controller.log"
        self.health_port = free_port()
        self.pod_name = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Its process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self, timeout: float = 60.0) -> MetalLBController:
        """Install the MetalLB CRDs and namespace (if missing), start the controller.

        Returns once its ``/readyz`` answers.
        """
        with connect(self.kubeconfig) as kube:
            if kube.get("v1", "Namespace", NAMESPACE) is None:
                kube.apply(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
                )
            crds = pinned_crds(["metallb"])
            for crd in crds:  # unless installed already (by Argo CD, say)
                if kube.get(crd["apiVersion"], crd["kind"], crd["metadata"]["name"]) is None:
                    kube.apply(crd)
            kube.wait_established([c["metadata"]["name"] for c in crds])
            self.pod_name = controller_pod(kube)
        args = [
            str(binary("metallb-controller")),
            f"--namespace={NAMESPACE}",
            f"--pod-name={self.pod_name}",
            "--webhook-mode=disabled",
            "--disable-cert-rotation",
            f"--port={free_port()}",
            f"--health-probe-port={self.health_port}",
            "--log-level=info",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(self.kubeconfig)}
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"metallb-controller exited with {self._proc.returncode}:\n{_tail(self.log)}"
                )
            try:
                url = f"http://127.0.0.1:{self.health_port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"metallb-controller not ready in {timeout:.0f}s:\n{_tail(self.log)}")

    def stop(self) -> None:
        """Stop the process."""
        _stop_process(self._proc)
        self._proc = None
