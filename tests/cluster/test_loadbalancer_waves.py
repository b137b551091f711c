"""What happens to the sync waves when no load balancer answers Traefik's Service.

Real parts: the kube-apiserver of the pinned version (tests/cluster harness) with no
load-balancer controller, which is exactly a kubeadm or bare-metal cluster without MetalLB:
it stores a ``LoadBalancer`` Service and leaves ``status.loadBalancer`` empty, and it
allocates the node ports of a ``NodePort`` Service. The Service itself is what the real
Traefik chart (pinned, ../shared/charts, expanded by the pinned Helm) makes from the values
homeport renders into the traefik Application; the waves are the rendered tree's. The
Application health Lua that homeport installs in ``argocd-cm`` runs in a real Lua
interpreter (lupa; Argo CD runs the same script in gopher-lua; it needs only Lua 5.1).

Stand-in: Argo CD's built-in Service health (gitops-engine ``pkg/health``, documented in
Argo CD's operator-manual/health.md: a ``LoadBalancer`` Service is Progressing until
``status.loadBalancer.ingress`` has an entry, any other Service is Healthy) and the rule
that an Application's health is the worst of its resources' — Argo CD's controller does
not run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from lupa import LuaRuntime

from configs import base_yaml
from homeport import yamlio
from homeport.cluster.kube import Kube
from homeport.config import parse_config
from homeport.gitops import render_tree
from homeport.platform.argocd import APPLICATION_HEALTH_LUA

from .apiserver import binary

SHARED = Path(os.environ.get("HOMEPORT_SHARED", Path(__file__).resolve().parents[3] / "shared"))
BASE = base_yaml(domain="example.org", email="admin@example.org")
_ORDER = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"]


def argocd_service_health(svc: dict[str, Any]) -> str:
    """Argo CD's documented Service health (stand-in for gitops-engine's Go code)."""
    if svc["spec"].get("type") == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return "Healthy" if ingress else "Progressing"
    return "Healthy"


def application_health_lua(app: dict[str, Any]) -> str:
    """Run homeport's argocd-cm health Lua for an Application (the root app's view)."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(app, recursive=True)
    hs = lua.execute(APPLICATION_HEALTH_LUA)
    return str(hs["status"])


def _apps(choice_yaml: str) -> dict[str, dict[str, Any]]:
    tree = render_tree(parse_config(BASE + choice_yaml))
    out = {}
    for path, text in tree.files.items():
        if path.startswith("apps/"):
            obj = yamlio.load(text)
            if obj.get("kind") == "Application":
                out[obj["metadata"]["name"]] = obj
    return out


def _wave(app: dict[str, Any]) -> int:
    return int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def _traefik_service(app: dict[str, Any], namespace: str, tmp: Path) -> dict[str, Any]:
    """The Service the real Traefik chart (pinned, from ../shared) makes from the values."""
    values = tmp / "traefik-values.json"
    values.write_text(json.dumps(app["spec"]["source"]["helm"]["valuesObject"]))
    out = subprocess.run(
        [
            str(binary("helm")), "template", "traefik", str(SHARED / "charts" / "traefik-41.3.0"),
            "--namespace", namespace, "-f", str(values), "--kube-version", "1.36",
            "--api-versions", "monitoring.coreos.com/v1",
        ],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    for obj in yamlio.load_all(out):
        if obj and obj.get("kind") == "Service" and obj["metadata"]["name"] == "traefik":
            obj["metadata"]["namespace"] = namespace
            return dict(obj)
    raise AssertionError("the Traefik chart rendered no Service named traefik")


def _app_health(resources: list[dict[str, Any]]) -> str:
    return max((argocd_service_health(r) for r in resources), key=_ORDER.index)


def test_no_load_balancer_holds_every_later_wave(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """servicelb chosen but nothing answers: traefik stays Progressing; waves after it wait."""
    apps = _apps("load_balancer:\n  type: servicelb\n")
    svc = kube.apply(_traefik_service(apps["traefik"], namespace, tmp_path))
    assert svc["spec"]["type"] == "LoadBalancer"
    time.sleep(2)  # give any controller the chance to answer; none exists here
    svc = kube.get("v1", "Service", "traefik", namespace)
    assert svc is not None
    assert not ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")

    health = _app_health([svc])
    assert health == "Progressing"
    child = {**apps["traefik"], "status": {"health": {"status": health}}}
    assert application_health_lua(child) == "Progressing"
    # The root app syncs wave by wave and waits for Healthy: everything after Traefik's
    # wave never starts. These are the Applications a bare-metal user sees stuck.
    waiting = sorted(n for n, a in apps.items() if _wave(a) > _wave(apps["traefik"]))
    for name in ("cert-manager-config", "authentik", "ddns", "demo-apps", "forward-auth"):
        assert name in waiting

    # What MetalLB (or ServiceLB) does once it answers: it writes the Service's status.
    kube.apply_status(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "traefik", "namespace": namespace},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.240"}]}},
        },
        field_manager="metallb-controller",
    )
    svc = kube.get("v1", "Service", "traefik", namespace)
    assert svc is not None
    health = _app_health([svc])
    assert health == "Healthy"
    child = {
        **apps["traefik"],
        "status": {"health": {"status": health}, "sync": {"status": "Synced"}},
    }
    assert application_health_lua(child) == "Healthy"
    # Not synced yet (a child Argo CD has just created has no resources, so it reports
    # Healthy): the root must still wait for it, or the next wave starts too early.
    child = {**apps["traefik"], "status": {"health": {"status": "Healthy"}}}
    assert application_health_lua(child) == "Progressing"
    child["status"]["sync"] = {"status": "OutOfSync"}
    assert application_health_lua(child) == "Progressing"
    child["status"] = {
        "health": {"status": "Healthy"},
        "sync": {"status": "Synced"},
        "operationState": {"phase": "Running"},
    }
    assert application_health_lua(child) == "Progressing"


def test_nodeport_fallback_is_healthy_without_a_load_balancer(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """nodeport: the API server allocates 30080/30443 and the Service is Healthy at once."""
    apps = _apps("load_balancer:\n  type: nodeport\n")
    svc = kube.apply(_traefik_service(apps["traefik"], namespace, tmp_path))
    assert svc["spec"]["type"] == "NodePort"
    assert {p["name"]: p["nodePort"] for p in svc["spec"]["ports"]} == {
        "web": 30080,
        "websecure": 30443,
    }
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    assert _app_health([svc]) == "Healthy"
    synced = {"health": {"status": "Healthy"}, "sync": {"status": "Synced"}}
    child = {**apps["traefik"], "status": synced}
    assert application_health_lua(child) == "Healthy"


def test_metallb_comes_before_traefik_and_an_app_without_status_is_progressing() -> None:
    """MetalLB's Applications sort before Traefik's; the Lua treats "no health yet" as waiting."""
    apps = _apps(
        "load_balancer:\n  type: metallb\n  node_network: 192.168.1.0/24\n"
        '  addresses: ["192.168.1.240-192.168.1.250"]\n'
    )
    assert _wave(apps["metallb"]) < _wave(apps["metallb-config"]) < _wave(apps["traefik"])
    assert application_health_lua({**apps["metallb"]}) == "Progressing"
    degraded = {**apps["metallb"], "status": {"health": {"status": "Degraded", "message": "x"}}}
    assert application_health_lua(degraded) == "Degraded"  # negative control of the Lua
