"""The in-platform DDNS component: objects, security, RBAC, monitoring, network policy."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from configs import config
from homeport import yamlio
from homeport.config import HomeportConfig
from homeport.ddns.options import STATUS_CONFIGMAP
from homeport.platform import ddns
from homeport.platform.base import WAVE_SERVICES


def cfg(extra: str = "") -> HomeportConfig:
    return config(extra, file="homeport.yaml", git_url="https://github.com/x/y.git")


def objects(c: HomeportConfig) -> dict[str, dict[str, Any]]:
    [comp] = ddns.components(c)
    return {o["kind"]: o for o in comp.objects}


def test_component_shape_and_determinism() -> None:
    c = cfg()
    [comp] = ddns.components(c)
    assert (comp.name, comp.namespace, comp.wave) == ("ddns", "cloudflare-ddns", WAVE_SERVICES)
    assert [o["kind"] for o in comp.objects] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    ]
    assert all(o["metadata"]["namespace"] == "cloudflare-ddns" for o in comp.objects)
    again = ddns.components(cfg())[0]
    assert yamlio.dump_all(comp.objects) == yamlio.dump_all(again.objects)
    assert [ns.name for ns in comp.namespaces] == ["cloudflare-ddns"]


def test_deployment_runs_the_controller_locked_down() -> None:
    c = cfg(
        "cloudflare:\n  records: ['@', '*', vpn]\n  ipv6: true\n  interval: 2m\n"
        "components:\n  ddns:\n    image: ghcr.io/homeport-dev/homeport:9.9.9\n"
        "    healthchecks_url: https://hc-ping.com/abc\n"
    )
    dep = objects(c)["Deployment"]
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]["spec"]
    [ctr] = pod["containers"]
    assert ctr["image"] == "ghcr.io/homeport-dev/homeport:9.9.9"
    assert ctr["command"] == ["homeport"]
    args = ctr["args"]
    assert args[:4] == ["ddns", "run", "--zone", "example.com"]
    pairs = list(itertools.pairwise(args))
    assert [v for k, v in pairs if k == "--record"] == ["@", "*", "vpn"]
    assert [v for k, v in pairs if k == "--ip-provider"] == [
        "cloudflare.trace",
        "cloudflare.doh",
        "ipify",
    ]
    assert ("--interval", "2m") in pairs and ("--status-configmap", STATUS_CONFIGMAP) in pairs
    assert ("--healthchecks-url", "https://hc-ping.com/abc") in pairs
    assert "--ipv4" in args and "--ipv6" in args and "--no-proxied" in args
    assert not any("token" in a.lower() for a in args)  # the token never travels as an argument
    [token_env] = [e for e in ctr["env"] if e["name"] == "CLOUDFLARE_API_TOKEN"]
    assert token_env["valueFrom"]["secretKeyRef"] == {
        "name": "cloudflare-api-token",
        "key": "api-token",
    }
    sc = ctr["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert ctr["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert ctr["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert ("--listen", "0.0.0.0:9090") in pairs
    assert ctr["resources"]["limits"]["memory"] == "128Mi"
    assert pod["serviceAccountName"] == "homeport-ddns"


def test_rbac_allows_exactly_the_status_configmap() -> None:
    objs = objects(cfg())
    assert objs["Role"]["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [STATUS_CONFIGMAP],
            "verbs": ["get", "create", "update", "patch"],
        }
    ]
    assert objs["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "homeport-ddns", "namespace": "cloudflare-ddns"}
    ]
    assert objs["RoleBinding"]["roleRef"]["name"] == objs["Role"]["metadata"]["name"]


def test_monitoring_objects_only_with_monitoring() -> None:
    kinds = set(objects(cfg("components:\n  monitoring:\n    enabled: false\n")))
    assert "ServiceMonitor" not in kinds and "PrometheusRule" not in kinds
    objs = objects(cfg())
    [group] = objs["PrometheusRule"]["spec"]["groups"]
    [rule] = group["rules"]
    assert rule["for"] == "15m" and "homeport_ddns_consecutive_failures" in rule["expr"]
    assert rule["annotations"]["summary"] == "DDNS failing for 15 minutes"
    assert rule["annotations"]["runbook_url"] == (
        "https://github.com/homeport-dev/homeport/blob/main/docs/runbooks/ddns-failing.md"
    )
    assert rule["labels"]["severity"] == "warning" and rule["annotations"]["description"]
    sm = objs["ServiceMonitor"]["spec"]
    assert sm["endpoints"][0]["port"] == "metrics"
    assert sm["selector"]["matchLabels"].items() <= objs["Service"]["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("kind", "crd"),
    [("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules")],
)
def test_monitoring_objects_match_upstream_crds(kind: str, crd: str) -> None:
    crd_dir = Path(os.environ.get("HOMEPORT_CRD_DIR", "/work/shared/crds"))
    [path] = crd_dir.glob(f"prometheus-operator-*/monitoring.coreos.com_{crd}.yaml")
    doc = yamlio.load(path.read_text())
    [version] = [v for v in doc["spec"]["versions"] if v["name"] == "v1"]
    schema = version["schema"]["openAPIV3Schema"]
    obj = objects(cfg())[kind]
    # Draft7Validator without the metaschema check: the CRD uses Go regex syntax.
    validator = jsonschema.Draft7Validator(schema)
    assert [e.message for e in validator.iter_errors(obj)] == []
    broken = {
        **obj,
        "spec": {**obj["spec"], ("endpoints" if kind == "ServiceMonitor" else "groups"): "x"},
    }
    assert [e.message for e in validator.iter_errors(broken)]  # the schema does bite


def test_network_policy() -> None:
    [comp] = ddns.components(cfg())
    [ns] = comp.namespaces
    by_name = {p["metadata"]["name"]: p for p in ns.policies}
    egress = by_name["ddns-egress"]["spec"]["egress"]
    assert any(any(p.get("port") == 53 for p in r.get("ports", [])) for r in egress)  # DNS
    internet = [r for r in egress if any("ipBlock" in t for t in r.get("to", []))]
    assert internet and internet[0]["ports"] == [{"protocol": "TCP", "port": 443}]
    assert any(
        {"protocol": "TCP", "port": 6443} in r.get("ports", []) for r in egress
    )  # API server
    ingress = by_name["ddns-metrics-from-monitoring"]["spec"]["ingress"]
    assert ingress == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9090}],
        }
    ]


def test_disabled_component_renders_nothing() -> None:
    assert ddns.components(cfg("components:\n  ddns:\n    enabled: false\n")) == []
