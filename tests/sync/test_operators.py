"""The operators and webhooks the sync test runs for real start here and do their job.

Real: kube-apiserver + etcd (tests/cluster/apiserver.py) in a network namespace this module
creates (loopback only); prometheus-operator, CloudNativePG's operator, cert-manager's
webhook and cainjector, as built by scripts/build-tools.sh and started by operators.py;
the charts' objects as Helm v4 expands them from the example's rendered values (CRDs,
RBAC, webhook configurations, Deployments, ConfigMaps). Each program runs with its
chart's args and as its chart's ServiceAccount (a client certificate for that user, so
exactly the chart's RBAC applies), except prometheus-operator: kube-prometheus-stack's
subcharts are not in ../shared, so Helm cannot expand it here; it runs as admin with the
args that chart renders from homeport's values (PROM_OPERATOR_ARGS).

No kubelet, scheduler or controller-manager runs: Deployments and StatefulSets are only
stored, no pod starts (the sync test adds those, with KWOK).

Stand-in, and why: how the API server reaches a webhook. In a cluster it dials the
Service's ClusterIP, which kube-proxy routes to the pod. Here the chart's Service is
replaced by an ExternalName Service pointing at ``localhost`` and the webhook
configuration's service port by the program's port (the API server dials
``externalName:port``). The rest is as in a cluster: the API server verifies TLS for the
Service's DNS name against the caBundle the programs inject themselves (CloudNativePG
its own PKI, cert-manager's cainjector the webhook's CA Secret). The sync test routes the
real ClusterIP instead (SimCluster.expose).
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cluster.apiserver import ApiServer, free_port
from cluster.netns import interfaces, network_namespace
from homeport.check.engine import expand_charts
from homeport.cluster.apply import apply_objects, load_manifest_text
from homeport.cluster.kube import Kube, connect
from homeport.config import load_config
from homeport.gitops import render_tree

from .admission import ca_bundles, dry_run, rejection, wait_injected
from .operators import (
    Proc,
    deployment_args,
    deployment_env,
    network_interfaces,
    start_certmanager_cainjector,
    start_certmanager_webhook,
    start_cnpg,
    start_prometheus_operator,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
CNPG_VALIDATING = "cnpg-validating-webhook-configuration"
CNPG_MUTATING = "cnpg-mutating-webhook-configuration"
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
# kube-prometheus-stack 88.2.0's operator args with homeport's values (helm template of the
# chart with its subcharts stubbed; --web.listen-address is replaced by a loopback port).
PROM_OPERATOR_ARGS = [
    "--kubelet-service=kube-system/kube-prometheus-stack-kubelet",
    "--kubelet-endpoints=true",
    "--kubelet-endpointslice=false",
    "--localhost=127.0.0.1",
    "--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.93.0",
    "--thanos-default-base-image=quay.io/thanos/thanos:v0.42.4",
    "--web.enable-tls=false",
    "--web.listen-address=:8080",
]


@dataclass
class Env:
    """The API server, its connection, and what the example's tree and charts hold."""

    srv: ApiServer
    kube: Kube
    apps: dict[str, list[dict[str, Any]]]
    tree: dict[str, list[dict[str, Any]]]
    workdir: Path

    def sa_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig acting as a ServiceAccount (its RBAC, through a client certificate)."""
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
        text = self.srv.user_kubeconfig_text(f"system:serviceaccount:{namespace}:{name}", groups)
        # Not ApiServer.write_user_kubeconfig: its file name holds the user's colons, and
        # $KUBECONFIG is a colon-separated list.
        path = self.workdir / f"kubeconfig-{namespace}-{name}"
        path.write_text(text)
        path.chmod(0o600)
        return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("operators")
    cfg = load_config(ROOT / "examples" / "homeport.yaml")
    rendered = render_tree(cfg)
    tree_dir = tmp / "tree"
    for rel, text in rendered.files.items():
        p = tree_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    expanded, _ = expand_charts(tree_dir, SHARED / "charts", kubernetes_version="1.36")
    tree = {
        rel: load_manifest_text(t, rel)
        for rel, t in rendered.files.items()
        if rel.endswith(".yaml")
    }
    with network_namespace():
        assert interfaces() == ["lo"]
        srv = ApiServer().start()
        try:
            with connect(srv.kubeconfig) as kube:
                apps: dict[str, list[dict[str, Any]]] = {}
                for app in expanded:
                    apps[app.name] = [_placed(kube, o, app.namespace) for o in app.objects]
                crds = [
                    o
                    for name in ("monitoring-crds", "cloudnative-pg", "cert-manager")
                    for o in apps[name]
                    if o["kind"] == "CustomResourceDefinition"
                ]
                namespaces = [
                    o
                    for rel, objs in tree.items()
                    if rel.startswith("components/namespaces/")
                    for o in objs
                ]
                apply_objects(kube, [*crds, *namespaces])
                yield Env(srv, kube, apps, tree, tmp)
        finally:
            srv.stop()


def _placed(kube: Kube, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object with the Application's namespace where Helm left it out (as Argo CD does)."""
    obj = copy.deepcopy(obj)
    if obj["kind"] != "CustomResourceDefinition" and not obj["metadata"].get("namespace"):
        rt = kube.resource_type(str(obj["apiVersion"]), str(obj["kind"]))
        if rt is not None and rt.namespaced:
            obj["metadata"]["namespace"] = namespace
    return obj


def routed(
    objs: list[dict[str, Any]], namespace: str, service: str, port: int
) -> list[dict[str, Any]]:
    """The chart's objects with its webhook Service answering on ``localhost:port``.

    The Service becomes ExternalName ``localhost``; every webhook calling it gets ``port``.
    Nothing else changes (paths, rules, failure policy, annotations).
    """
    out = []
    for o in objs:
        o = copy.deepcopy(o)
        if o["kind"].endswith("WebhookConfiguration"):
            for hook in o["webhooks"]:
                ref = hook["clientConfig"].get("service") or {}
                if (ref.get("namespace"), ref.get("name")) == (namespace, service):
                    ref["port"] = port
        elif o["kind"] == "Service" and (o["metadata"]["namespace"], o["metadata"]["name"]) == (
            namespace,
            service,
        ):
            o["spec"] = {"type": "ExternalName", "externalName": "localhost"}
        out.append(o)
    return out


def chart_objects(env: Env, app: str) -> list[dict[str, Any]]:
    """An Application's expanded objects, CRDs (already applied) and Helm hooks left out."""
    return [
        o
        for o in env.apps[app]
        if o["kind"] != "CustomResourceDefinition"
        and "helm.sh/hook" not in (o["metadata"].get("annotations") or {})
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)}"
    return found[0]


def phase(cluster: dict[str, Any]) -> str | None:
    """A CloudNativePG Cluster's ``status.phase``."""
    got = (cluster.get("status") or {}).get("phase")
    return None if got is None else str(got)


def stopped(proc: Proc) -> None:
    """Stop ``proc``; assert it ran the whole test without exiting once."""
    try:
        assert proc.running and proc.restarts == 0, proc.log_tail()
    finally:
        proc.stop()


def test_webhook_programs_refuse_a_namespace_with_outside_interfaces(tmp_path: Path) -> None:
    """CloudNativePG's and cert-manager's webhooks bind every interface: not where eth0 is.

    First in the file, so it runs before the module's network namespace is entered.
    """
    assert network_interfaces() != ["lo"]  # the host's namespace (or the check proves nothing)
    kubeconfig = tmp_path / "kubeconfig"
    with pytest.raises(RuntimeError, match="binds its webhook on every interface"):
        start_cnpg(kubeconfig, tmp_path, webhook_port=free_port())
    with pytest.raises(RuntimeError, match="binds its webhook on every interface"):
        start_certmanager_webhook(kubeconfig, tmp_path, secure_port=free_port())
    assert not list(tmp_path.glob("*.log"))  # nothing was started


def test_prometheus_operator_reconciles_prometheus(env: Env) -> None:
    """prometheus-operator turns a Prometheus into its StatefulSet and reports the state.

    With no pod ever started here, Available is False (``NoPodReady``), which Argo CD's
    health check for Prometheus reads as Degraded; under KWOK the pod turns Ready and
    Available True (Healthy). Negative control: a Prometheus whose version does not
    parse is reported ``Reconciled=False`` and gets no StatefulSet.
    """
    spec = {"replicas": 1, "serviceAccountName": "prometheus", "ruleSelector": {}}
    for name, version in (("k8s", "v3.16.0"), ("broken", "not-a-version")):
        body = {**spec, "version": version, "image": f"quay.io/prometheus/prometheus:{version}"}
        meta = {"name": name, "namespace": "monitoring"}
        apply_objects(
            env.kube,
            [
                {
                    "apiVersion": "monitoring.coreos.com/v1",
                    "kind": "Prometheus",
                    "metadata": meta,
                    "spec": body,
                }
            ],
        )
    proc = start_prometheus_operator(env.srv.kubeconfig, env.workdir, chart_args=PROM_OPERATOR_ARGS)
    try:

        def conditions(name: str) -> dict[str, dict[str, Any]]:
            obj = env.kube.get("monitoring.coreos.com/v1", "Prometheus", name, "monitoring") or {}
            return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}

        # The first status can predate the StatefulSet (Available: StatefulSetNotFound).
        wait_for(
            "Prometheus status",
            lambda: conditions("k8s").get("Available", {}).get("reason") == "NoPodReady",
            proc,
        )
        wait_for("broken Prometheus status", lambda: "Reconciled" in conditions("broken"), proc)
        good, bad = conditions("k8s"), conditions("broken")
        assert good["Reconciled"]["status"] == "True"
        assert (good["Available"]["status"], good["Available"]["reason"]) == ("False", "NoPodReady")
        assert (bad["Reconciled"]["status"], bad["Reconciled"]["reason"]) == (
            "False",
            "ReconciliationFailed",
        )
        assert "failed to parse Prometheus version" in bad["Reconciled"]["message"]
        sts = env.kube.get("apps/v1", "StatefulSet", "prometheus-k8s", "monitoring")
        assert sts is not None
        images = [c["image"] for c in sts["spec"]["template"]["spec"]["containers"]]
        assert "quay.io/prometheus/prometheus:v3.16.0" in images
        assert env.kube.get("apps/v1", "StatefulSet", "prometheus-broken", "monitoring") is None
    finally:
        stopped(proc)


def test_cnpg_webhooks_admit_the_tree_cluster_and_reject_an_invalid_one(env: Env) -> None:
    """CloudNativePG's own webhooks, with the caBundle it injected, judge Clusters.

    The operator creates its CA and serving certificate Secrets and patches both chart
    webhook configurations. The tree's Cluster is admitted and defaulted by the mutating
    webhook, then reconciled as far as a cluster without kubelets allows. Negative control:
    a Cluster setting a parameter CloudNativePG fixes (``listen_addresses``) passes the CRD
    schema (shown before the webhook configurations exist) and is then denied by
    ``vcluster.cnpg.io``.
    """
    path = "components/authentik-database/cluster-authentik-db.yaml"
    cluster = one(env.tree[path], "Cluster", "authentik-db")
    bad = copy.deepcopy(cluster)
    bad["metadata"]["name"] = "bad-db"
    bad["spec"]["postgresql"] = {"parameters": {"listen_addresses": "*"}}
    assert dry_run(env.kube, bad) == "accepted"  # the schema alone lets it through
    port = free_port()
    objs = routed(chart_objects(env, "cloudnative-pg"), "cnpg-system", "cnpg-webhook-service", port)
    apply_objects(env.kube, objs, create_namespaces=False)
    deploy = one(objs, "Deployment", "cloudnative-pg")
    proc = start_cnpg(
        env.sa_kubeconfig("cnpg-system", "cloudnative-pg"),
        env.workdir,
        webhook_port=port,
        chart_args=deployment_args(deploy, "cnpg-system"),
        env=deployment_env(deploy),  # OPERATOR_IMAGE_NAME, MONITORING_QUERIES_CONFIGMAP
    )
    try:
        wait_injected(env.kube, proc, "ValidatingWebhookConfiguration", CNPG_VALIDATING)
        wait_injected(env.kube, proc, "MutatingWebhookConfiguration", CNPG_MUTATING)
        serving = env.kube.get("v1", "Secret", "cnpg-webhook-cert", "cnpg-system") or {}
        injected = ca_bundles(env.kube, "ValidatingWebhookConfiguration", CNPG_VALIDATING)
        assert set(injected) == {serving["data"]["tls.crt"]}
        # Calls fail while its webhook server starts: wait for the first answer.
        wait_for("webhook answer", lambda: "denied the request" in dry_run(env.kube, bad), proc)
        msg = rejection(env.kube, bad)
        assert 'admission webhook "vcluster.cnpg.io" denied the request' in msg
        assert "listen_addresses" in msg
        creds = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": "authentik-db-credentials", "namespace": "authentik"},
            "data": {"username": _b64(b"authentik"), "password": _b64(b"test-only-password")},
        }
        apply_objects(env.kube, [creds, cluster], create_namespaces=False)

        def live() -> dict[str, Any]:
            got = env.kube.get("postgresql.cnpg.io/v1", "Cluster", "authentik-db", "authentik")
            return dict(got or {})

        # Defaults only the mutating webhook sets (the tree has no postgresql section).
        params = live()["spec"]["postgresql"]["parameters"]
        assert (params["max_worker_processes"], params["wal_level"]) == ("32", "logical")
        # With no kubelet the initdb Job never runs, so the operator waits there (Argo CD's
        # health check reads this phase as Progressing).
        wait_for("Cluster phase", lambda: phase(live()) == "Setting up primary", proc)
        assert live()["status"]["phaseReason"] == "Creating primary instance authentik-db-1"
        assert env.kube.get("batch/v1", "Job", "authentik-db-1-initdb", "authentik") is not None
        assert env.kube.get("postgresql.cnpg.io/v1", "Cluster", "bad-db", "authentik") is None
    finally:
        stopped(proc)


def test_certmanager_webhook_rejects_an_invalid_certificate(env: Env) -> None:
    """cert-manager's webhook, its CA injected by the cainjector, judges Certificates.

    The webhook creates its CA Secret (``cert-manager-webhook-ca``) and serves with a
    leaf for the Service's DNS names; the cainjector copies the CA into both webhook
    configurations (their ``cert-manager.io/inject-ca-from-secret`` annotation). The
    tree's wildcard Certificate is admitted. Negative control: a Certificate naming no
    subject passes the CRD schema (shown before the webhook configurations exist) and is
    then denied by ``webhook.cert-manager.io``.
    """
    path = "components/cert-manager-config/certificate-wildcard.yaml"
    cert = one(env.tree[path], "Certificate", "wildcard")
    bad = copy.deepcopy(cert)
    bad["metadata"]["name"] = "no-subject"
    for key in ("dnsNames", "commonName"):
        bad["spec"].pop(key, None)
    assert dry_run(env.kube, bad) == "accepted"  # the schema alone lets it through
    port = free_port()
    objs = routed(chart_objects(env, "cert-manager"), "cert-manager", "cert-manager-webhook", port)
    apply_objects(env.kube, objs, create_namespaces=False)

    def args(deployment: str) -> list[str]:
        return deployment_args(one(objs, "Deployment", deployment), "cert-manager")

    webhook = start_certmanager_webhook(
        env.sa_kubeconfig("cert-manager", "cert-manager-webhook"),
        env.workdir,
        secure_port=port,
        chart_args=args("cert-manager-webhook"),
    )
    injector = start_certmanager_cainjector(
        env.sa_kubeconfig("cert-manager", "cert-manager-cainjector"),
        env.workdir,
        chart_args=args("cert-manager-cainjector"),
    )
    try:
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            wait_injected(env.kube, injector, kind, "cert-manager-webhook")
        ca = env.kube.get("v1", "Secret", "cert-manager-webhook-ca", "cert-manager") or {}
        injected = ca_bundles(env.kube, "ValidatingWebhookConfiguration", "cert-manager-webhook")
        assert set(injected) == {ca["data"]["ca.crt"]}
        wait_for("webhook answer", lambda: "denied the request" in dry_run(env.kube, bad), webhook)
        msg = rejection(env.kube, bad)
        assert 'admission webhook "webhook.cert-manager.io" denied the request' in msg
        assert "at least one of" in msg
        apply_objects(env.kube, [cert], create_namespaces=False)
        assert env.kube.get("cert-manager.io/v1", "Certificate", "wildcard", "traefik") is not None
    finally:
        stopped(webhook)
        stopped(injector)
