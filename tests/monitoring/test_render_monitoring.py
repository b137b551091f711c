"""What the monitoring module renders: waves, sizing, delivery, routes, policies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from homeport import yamlio
from homeport.gitops import RenderedTree, render_tree
from homeport.platform import monitoring
from homeport.platform.base import WAVE_CONTROLLERS, WAVE_SEALED_SECRETS
from homeport.versions import (
    KUBE_PROMETHEUS_STACK_CHART_VERSION,
    PROMETHEUS_OPERATOR_CRDS_CHART_VERSION,
    PROMETHEUS_VERSION,
)

from .conftest import config

Obj = dict[str, Any]


def _apps(tree: RenderedTree) -> dict[str, Obj]:
    return {
        o["metadata"]["name"]: o
        for p, o in tree.objects()
        if p.startswith("apps/") and o["kind"] == "Application"
    }


def _values(tree: RenderedTree) -> Obj:
    return dict(_apps(tree)["monitoring"]["spec"]["source"]["helm"]["valuesObject"])


def _namespace_label(tree: RenderedTree, ns: str) -> str:
    [obj] = [
        o for _, o in tree.objects() if o["kind"] == "Namespace" and o["metadata"]["name"] == ns
    ]
    return str(obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"])


def test_crds_come_two_waves_before_the_stack_and_its_monitors(full_tree: RenderedTree) -> None:
    apps = _apps(full_tree)
    crds, stack = apps["monitoring-crds"], apps["monitoring"]
    wave = lambda a: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])  # noqa: E731
    assert wave(crds) == WAVE_SEALED_SECRETS and wave(stack) == WAVE_CONTROLLERS
    assert crds["spec"]["source"]["chart"] == "prometheus-operator-crds"
    assert crds["spec"]["source"]["targetRevision"] == PROMETHEUS_OPERATOR_CRDS_CHART_VERSION
    assert stack["spec"]["source"]["targetRevision"] == KUBE_PROMETHEUS_STACK_CHART_VERSION
    for app in (crds, stack):
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert _values(full_tree)["crds"] == {"enabled": False}
    # Every Application shipping monitoring.coreos.com objects syncs after the CRDs.
    for path, obj in full_tree.objects():
        if obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            comp = path.split("/")[1]
            assert wave(apps[comp]) > WAVE_SEALED_SECRETS, path
    # Chart switches of other components that create monitors sync after the CRDs too.
    for name in ("traefik", "cert-manager"):
        assert wave(apps[name]) > WAVE_SEALED_SECRETS


def test_prometheus_sizing_follows_the_config() -> None:
    tree = render_tree(config("components: {monitoring: {retention: 30d, storage: 20Gi}}\n"))
    spec = _values(tree)["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert (
        spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
        == "20Gi"
    )
    assert spec["retentionSize"] == "16384MB"  # 80 % of the volume
    assert spec["image"]["tag"] == PROMETHEUS_VERSION
    # Pick up every monitor and rule, not only the release's own.
    for key in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{key}SelectorNilUsesHelmValues"] is False


def test_lite_drops_node_exporter_and_shrinks(full_tree: RenderedTree) -> None:
    tree = render_tree(config("components: {monitoring: {lite: true}}\n"))
    values, full = _values(tree), _values(full_tree)
    assert values["nodeExporter"] == {"enabled": False} and full["nodeExporter"] == {
        "enabled": True
    }
    assert values["defaultRules"]["rules"]["node"] is False
    spec, full_spec = values["prometheus"]["prometheusSpec"], full["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "3d" and full_spec["retention"] == "15d"
    assert spec["resources"]["requests"]["memory"] == "384Mi"
    assert full_spec["resources"]["requests"]["memory"] == "1Gi"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"] == {
        "storage": "4Gi"
    }
    # Without node-exporter (hostNetwork, hostPID) the namespace can be "restricted".
    assert _namespace_label(tree, "monitoring") == "restricted"
    assert _namespace_label(full_tree, "monitoring") == "privileged"
    # An explicit retention wins over lite's default.
    tree = render_tree(config("components: {monitoring: {lite: true, retention: 7d}}\n"))
    assert _values(tree)["prometheus"]["prometheusSpec"]["retention"] == "7d"


def test_disabled_monitoring_renders_no_monitoring_objects() -> None:
    tree = render_tree(config("components: {monitoring: {enabled: false}}\n"))
    assert not any(n.startswith("monitoring") for n in _apps(tree))
    kinds = {o["kind"] for _, o in tree.objects()}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    assert not any(
        o["kind"] == "Namespace" and o["metadata"]["name"] == "monitoring"
        for _, o in tree.objects()
    )


def test_alert_delivery_without_plaintext_credentials() -> None:
    tree = render_tree(
        config(
            "components:\n  monitoring:\n    alerts:\n"
            "      email: ops@example.com\n      smtp_host: smtp.example.com:587\n"
            "      ntfy_url: https://ntfy.sh/homeport-alerts\n"
            "      webhook_url: https://hooks.example.com/alertmanager\n"
        )
    )
    am = _values(tree)["alertmanager"]
    [receiver] = [r for r in am["config"]["receivers"] if r["name"] == "homeport"]
    [email] = receiver["email_configs"]
    assert email["to"] == "ops@example.com" and email["smarthost"] == "smtp.example.com:587"
    assert email["auth_password_file"] == "/etc/alertmanager/secrets/alertmanager-smtp/password"
    assert "auth_password" not in email
    assert am["alertmanagerSpec"]["secrets"] == ["alertmanager-smtp"]
    urls = [w["url"] for w in receiver["webhook_configs"]]
    assert urls[0].startswith("https://ntfy.sh/homeport-alerts?tpl=1&t=")
    assert urls[1] == "https://hooks.example.com/alertmanager"
    assert am["config"]["route"]["receiver"] == "homeport"
    # Nothing in the whole tree looks like a password value.
    for path, text in tree.files.items():
        assert "auth_password:" not in text, path
        assert "smtp_auth_password:" not in text, path


def test_no_delivery_configured_keeps_a_receiver_without_targets(full_tree: RenderedTree) -> None:
    am = _values(full_tree)["alertmanager"]
    [receiver] = [r for r in am["config"]["receivers"] if r["name"] == "homeport"]
    assert receiver == {"name": "homeport"}
    assert "secrets" not in am["alertmanagerSpec"]


def test_ntfy_url_keeps_existing_query() -> None:
    url = monitoring.ntfy_webhook_url("https://ntfy.example.com/alerts?auth=abc")
    assert url.startswith("https://ntfy.example.com/alerts?auth=abc&tpl=1&t=")
    assert " " not in url and "{" not in url


def _route(tree: RenderedTree) -> Obj:
    [route] = [o for p, o in tree.objects() if p.startswith("components/monitoring-route/")]
    return route


def test_grafana_behind_sso(full_tree: RenderedTree) -> None:
    route = _route(full_tree)
    assert route["spec"]["routes"][0]["match"] == "Host(`grafana.example.com`)"
    # The Grafana subchart's Service keeps its default name (the release plus "-grafana").
    assert route["spec"]["routes"][0]["services"] == [
        {"name": "kube-prometheus-stack-grafana", "port": 80}
    ]
    names = [m["name"] for m in route["spec"]["routes"][0]["middlewares"]]
    assert "authentik-forward-auth" in names
    grafana = _values(full_tree)["grafana"]
    ini = grafana["grafana.ini"]
    assert ini["auth.proxy"]["enabled"] is True
    assert ini["auth.proxy"]["header_name"] == "X-authentik-username"
    assert ini["auth"]["disable_login_form"] is True
    assert grafana["env"]["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "true"
    assert grafana["sidecar"]["dashboards"]["label"] == "grafana_dashboard"


def test_public_grafana_keeps_its_login() -> None:
    tree = render_tree(config("components: {monitoring: {auth: public}}\n"))
    names = [m["name"] for m in _route(tree)["spec"]["routes"][0]["middlewares"]]
    assert "authentik-forward-auth" not in names
    grafana = _values(tree)["grafana"]
    assert "auth.proxy" not in grafana["grafana.ini"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"


def test_dashboards_are_configmaps_for_the_sidecar(full_tree: RenderedTree) -> None:
    cms = [
        o
        for p, o in full_tree.objects()
        if o["kind"] == "ConfigMap" and p.startswith("components/monitoring-config/")
    ]
    titles = set()
    for cm in cms:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["namespace"] == "monitoring"
        [(file, text)] = cm["data"].items()
        model = json.loads(text)
        assert file.endswith(".json") and model["uid"].startswith("homeport-")
        titles.add(model["title"])
        for panel in model["panels"]:
            assert panel["targets"] and panel["datasource"]["uid"] == "prometheus"
    assert titles == {
        "homeport / Platform overview",
        "homeport / Certificates",
        "homeport / DDNS",
        "homeport / Argo CD",
    }


def test_argocd_is_scraped(full_tree: RenderedTree) -> None:
    monitors = [
        o
        for _, o in full_tree.objects()
        if o["kind"] == "ServiceMonitor" and o["metadata"]["namespace"] == "argocd"
    ]
    selected = {m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for m in monitors}
    assert selected == {"argocd-metrics", "argocd-server-metrics", "argocd-repo-server"}


def test_argocd_monitors_select_upstream_services() -> None:
    manifest = Path(
        os.environ.get(
            "HOMEPORT_ARGOCD_MANIFEST",
            Path(__file__).resolve().parents[3] / "shared/upstream/argo-cd-v3.5.1/install.yaml",
        )
    )
    services = {
        d["metadata"]["name"]: d
        for d in yamlio.load_all(manifest.read_text())
        if d and d.get("kind") == "Service"
    }
    for sm in monitoring.argocd_service_monitors():
        name = sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        svc = services[name]
        assert svc["metadata"]["labels"]["app.kubernetes.io/name"] == name
        assert "metrics" in {p.get("name") for p in svc["spec"]["ports"]}


def test_network_policies(full_tree: RenderedTree) -> None:
    pols = {
        o["metadata"]["name"]: o["spec"]
        for _, o in full_tree.objects()
        if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == "monitoring"
    }
    assert "default-deny" in pols
    grafana = pols["allow-grafana-from-traefik"]
    assert grafana["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "traefik"
    }
    assert {"to": [{"namespaceSelector": {}}]} in pols["allow-scrape"]["egress"]
    assert pols["allow-alert-delivery"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "alertmanager"
    }
    assert "allow-dns" in pols and "allow-apiserver" in pols


@pytest.mark.parametrize(
    ("size", "expected"), [("10Gi", "8192MB"), ("500Mi", "400MB"), ("1G", "762MB")]
)
def test_retention_size(size: str, expected: str) -> None:
    assert monitoring.retention_size(size) == expected
