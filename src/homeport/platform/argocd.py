"""Argo CD: the root app-of-apps, the AppProject, child Applications, and Argo CD itself.

Argo CD is installed at bootstrap from the upstream ``install.yaml`` of the pinned
release, and then manages itself from the *same* source (the release's
``manifests/cluster-install`` kustomization) with the same settings patched in, so the
two installs never fight. The settings include the ``argoproj.io/Application`` health
check, without which sync waves across child Applications do not wait for each other.
"""

from __future__ import annotations

from typing import Any

from homeport.config import HomeportConfig
from homeport.platform import egress, mirror, traefik
from homeport.platform.authentik import argocd_oidc_config
from homeport.platform.base import (
    ARGOCD_NS,
    WAVE_ARGOCD,
    WAVE_SSO,
    Component,
    NamespaceSpec,
    Obj,
    meta,
)
from homeport.platform.policies import (
    APISERVER_EGRESS,
    DNS_EGRESS,
    FROM_TRAEFIK,
    INTERNET_EGRESS,
    from_namespace,
    metrics_policy,
    netpol,
)
from homeport.versions import ARGOCD_VERSION
from homeport.wellknown import BUILTIN_NAMESPACES, WAVE_ANNOTATION

PROJECT = "homeport"
IN_CLUSTER = "https://kubernetes.default.svc"
FINALIZER = "resources-finalizer.argocd.argoproj.io"

# Restores Application health so the root app waits for each wave of children
# (removed from Argo CD's defaults in 1.8; see docs/operator-manual/health.md). A child
# Argo CD has just created reports Healthy before its first sync (it has no resources
# yet), and the root would then start the next wave at once: a real Argo CD did exactly
# that (tests/sync). So a child is Progressing until it is Synced and no sync is running.
APPLICATION_HEALTH_LUA = """hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
  if hs.status == "Healthy" then
    if obj.status.sync == nil or obj.status.sync.status ~= "Synced" then
      hs.status = "Progressing"
      hs.message = "waiting for its first sync"
    elseif obj.status.operationState ~= nil and obj.status.operationState.phase == "Running" then
      hs.status = "Progressing"
      hs.message = "sync running"
    end
  end
end
return hs
"""

RETRY: Obj = {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}


def cm_data(cfg: HomeportConfig) -> dict[str, str]:
    """Data of ``argocd-cm``: public URL, Application health check, OIDC when enabled."""
    data = {
        "url": f"https://argocd.{cfg.domain}",
        "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH_LUA,
        "application.resourceTrackingMethod": "annotation",
        "timeout.reconciliation": "180s",
    }
    # Argo CD logs in through Authentik when SSO and its OIDC client are enabled.
    oidc = argocd_oidc_config(cfg)
    if oidc:
        data["oidc.config"] = oidc
    return dict(sorted(data.items()))


def cmd_params_data(cfg: HomeportConfig) -> dict[str, str]:
    """Data of ``argocd-cmd-params-cm``.

    TLS is terminated by Traefik, so the server serves plain HTTP. Each resource's health
    is kept in the Application (off by default since Argo CD 3.0), so ``homeport
    bootstrap --wait`` and ``homeport status`` can say which resource holds a wave up and
    why (``Deployment "traefik" exceeded its progress deadline``).
    """
    return {"controller.resource.health.persist": "true", "server.insecure": "true"}


def bootstrap_objects(cfg: HomeportConfig) -> list[Obj]:
    """Objects ``homeport bootstrap`` applies on top of the upstream install.yaml.

    They carry exactly the settings the self-managing Application patches in, so Argo
    CD's first sync of itself changes nothing.

    Args:
        cfg: The config.

    Returns:
        ConfigMaps for ``argocd-cm`` and ``argocd-cmd-params-cm``.
    """
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "argocd-cm",
                "namespace": ARGOCD_NS,
                "labels": {
                    "app.kubernetes.io/name": "argocd-cm",
                    "app.kubernetes.io/part-of": "argocd",
                },
            },
            "data": cm_data(cfg),
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "argocd-cmd-params-cm",
                "namespace": ARGOCD_NS,
                "labels": {
                    "app.kubernetes.io/name": "argocd-cmd-params-cm",
                    "app.kubernetes.io/part-of": "argocd",
                },
            },
            "data": cmd_params_data(cfg),
        },
    ]


def _strategic_patch(obj: Obj) -> str:
    from homeport import yamlio

    return yamlio.dump(
        {k: v for k, v in obj.items() if k in ("apiVersion", "kind", "metadata", "data")}
    )


def _self_source(cfg: HomeportConfig) -> Obj:
    patches = [
        {
            "target": {"kind": "ConfigMap", "name": o["metadata"]["name"]},
            "patch": _strategic_patch(o),
        }
        for o in bootstrap_objects(cfg)
    ]
    return {
        "repoURL": mirror.argocd_repo(cfg),
        "targetRevision": ARGOCD_VERSION,
        "path": "manifests/cluster-install",
        "kustomize": {"patches": patches},
    }


def source_repos(cfg: HomeportConfig, components: list[Component]) -> list[str]:
    """Every repository the AppProject allows: the user's Git repo, Argo CD, chart repos.

    With ``mirror:`` the mirrors replace the upstream repositories they stand in for.
    """
    repos = {cfg.git.url, mirror.argocd_repo(cfg)}
    repos.update(mirror.chart_repo_url(cfg, c.chart) for c in components if c.chart)
    return sorted(repos)


def destinations(components: list[Component]) -> list[str]:
    """Every namespace Applications may deploy into.

    The one list both the AppProject's destinations and the ``secrets`` Application's
    include glob are built from: a namespace the glob syncs but the project refuses fails
    the whole ``secrets`` wave.

    Args:
        components: Every component of the platform.

    Returns:
        The namespaces the tree creates or deploys into, Argo CD's, and the built-in ones
        (charts put leases and the Sealed Secrets controller in kube-system; sealed
        secrets may target any built-in namespace).
    """
    names = {c.namespace for c in components}
    names.update(ns.name for c in components for ns in c.namespaces)
    names.add(ARGOCD_NS)
    names.update(BUILTIN_NAMESPACES)
    return sorted(names)


def project(cfg: HomeportConfig, components: list[Component]) -> Obj:
    """The AppProject that limits every child Application's sources and destinations."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {
            **meta(PROJECT, ARGOCD_NS),
            "annotations": {WAVE_ANNOTATION: "-100"},
        },
        "spec": {
            "description": "Everything homeport renders",
            "sourceRepos": source_repos(cfg, components),
            "destinations": [
                {"server": IN_CLUSTER, "namespace": ns} for ns in destinations(components)
            ],
            # CRDs, ClusterIssuers, namespaces and webhooks are cluster-scoped.
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
            "orphanedResources": {"warn": False},
        },
    }


def application(cfg: HomeportConfig, comp: Component) -> Obj:
    """The child Application of one component.

    Args:
        cfg: The config.
        comp: The component.

    Returns:
        The Application object.
    """
    source: dict[str, Any]
    if comp.chart is not None:
        helm: Obj = {"releaseName": comp.release or comp.name}
        if comp.values:
            helm["valuesObject"] = comp.values
        source = {
            "repoURL": mirror.chart_repo_url(cfg, comp.chart),
            "chart": comp.chart.name,
            "targetRevision": comp.chart.version,
            "helm": helm,
        }
    elif comp.source is not None and "repoURL" in comp.source:
        source = dict(comp.source)
    else:
        extra = dict(comp.source or {})
        path = extra.pop("path", f"components/{comp.name}")
        source = {
            "repoURL": cfg.git.url,
            "targetRevision": cfg.git.revision,
            "path": f"{cfg.git.path}/{path}",
            **extra,
        }
    opts = ["CreateNamespace=false", "PruneLast=true"]
    if comp.server_side:
        opts.append("ServerSideApply=true")
    if comp.skip_dry_run:
        opts.append("SkipDryRunOnMissingResource=true")
    if comp.ignore_differences:
        opts.append("RespectIgnoreDifferences=true")
    opts += comp.extra_sync_options
    automated: Obj = {"prune": True, "selfHeal": True}
    if comp.name == "argocd":
        # Never let a mistake prune Argo CD itself.
        automated = {"prune": False, "selfHeal": True}
    spec: Obj = {
        "project": PROJECT,
        "source": source,
        "destination": {"server": IN_CLUSTER, "namespace": comp.namespace},
        "syncPolicy": {"automated": automated, "syncOptions": opts, "retry": RETRY},
    }
    if comp.ignore_differences:
        spec["ignoreDifferences"] = comp.ignore_differences
    md = meta(comp.name, ARGOCD_NS)
    md["annotations"] = {WAVE_ANNOTATION: str(comp.wave)}
    if comp.description:
        md["annotations"]["homeport.dev/description"] = comp.description
    md["finalizers"] = [FINALIZER]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": md,
        "spec": spec,
    }


def root_application(cfg: HomeportConfig) -> Obj:
    """The root app-of-apps: syncs ``<git.path>/apps`` (the project and child Applications)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta("root", ARGOCD_NS),
        "spec": {
            # The homeport project is created by this very app, so root lives in "default".
            "project": "default",
            "source": {
                "repoURL": cfg.git.url,
                "targetRevision": cfg.git.revision,
                "path": f"{cfg.git.path}/apps",
            },
            "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NS},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=false"],
                "retry": RETRY,
            },
        },
    }


def _namespace(cfg: HomeportConfig) -> NamespaceSpec:
    ns = ARGOCD_NS
    return NamespaceSpec(
        ns,
        # Argo CD's upstream manifests are not all "restricted"-clean; enforce baseline,
        # warn and audit on restricted (see namespaces.py).
        "baseline",
        (
            netpol(
                "allow-server-from-traefik",
                ns,
                pod_selector={"matchLabels": {"app.kubernetes.io/name": "argocd-server"}},
                ingress=[{**FROM_TRAEFIK, "ports": [{"protocol": "TCP", "port": 8080}]}],
            ),
            metrics_policy(ns),
            # Components talk to each other (repo-server, redis, dex, controller).
            netpol(
                "allow-same-namespace",
                ns,
                ingress=[{"from": [from_namespace(ns)]}],
                egress=[{"to": [from_namespace(ns)]}],
            ),
            # Git and Helm repositories on the internet, and the API server.
            netpol("allow-internet", ns, egress=[INTERNET_EGRESS]),
            netpol("allow-apiserver", ns, egress=[APISERVER_EGRESS]),
            netpol("allow-dns", ns, egress=[DNS_EGRESS]),
            # A Git server on the LAN or in the cluster (git.url, network.lan).
            *egress.policy_for(cfg, "allow-git", ns, egress.git_endpoints(cfg), None),
            # Mirrors of the charts and of Argo CD on the LAN or in the cluster (mirror:).
            *egress.policy_for(cfg, "allow-mirrors", ns, egress.mirror_endpoints(cfg), None),
        ),
    )


def components(cfg: HomeportConfig) -> list[Component]:
    """Argo CD managing itself, and its route at ``argocd.<domain>``."""
    auth = cfg.components.argocd.auth
    return [
        Component(
            name="argocd",
            namespace=ARGOCD_NS,
            wave=WAVE_ARGOCD,
            source=_self_source(cfg),
            server_side=True,
            namespaces=[_namespace(cfg)],
            description=f"Argo CD {ARGOCD_VERSION}, managing itself from the upstream release",
        ),
        Component(
            name="argocd-config",
            namespace=ARGOCD_NS,
            wave=WAVE_SSO,
            objects=[
                traefik.ingress_route(
                    cfg,
                    name="argocd-server",
                    namespace=ARGOCD_NS,
                    host=f"argocd.{cfg.domain}",
                    service="argocd-server",
                    port=80,
                    auth=auth,
                )
            ],
            skip_dry_run=True,
            description="Argo CD UI at argocd.<domain>",
        ),
    ]
