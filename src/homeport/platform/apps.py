"""Demo apps and the user's apps: Deployment, Service, IngressRoute, PDB, PVC, HPA.

Every workload is hardened the same way (non-root, read-only root filesystem, no
capabilities, probes, requests and limits) and lives in its own namespace with a
default-deny network policy that only lets Traefik in.
"""

from __future__ import annotations

from homeport.config import App, HomeportConfig, Resources
from homeport.platform import traefik
from homeport.platform.base import (
    WAVE_APPS,
    Component,
    NamespaceSpec,
    Obj,
    keep,
    meta,
    restricted_security_context,
)
from homeport.platform.policies import DNS_EGRESS, FROM_TRAEFIK, INTERNET_EGRESS, netpol
from homeport.platform.secrets import app_env_secret_name
from homeport.versions import HELLO_IMAGE, WHOAMI_IMAGE

DEMO_NAMESPACE = "demo-apps"
SERVICE_PORT = 80


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "homeport"}


def _resources(res: Resources) -> Obj:
    out: Obj = {}
    for kind in ("requests", "limits"):
        q = getattr(res, kind)
        vals = {k: v for k, v in (("cpu", q.cpu), ("memory", q.memory)) if v is not None}
        if vals:
            out[kind] = vals
    return out


def workload(cfg: HomeportConfig, app: App, namespace: str) -> list[Obj]:
    """Build every object one app needs in its namespace.

    Args:
        cfg: The config.
        app: The app.
        namespace: Namespace the app runs in.

    Returns:
        Deployment, Service, IngressRoute and, when asked for, PVC, PDB and HPA.
    """
    name = app.name
    sel = {"app.kubernetes.io/name": name}
    pod_sc, ctr_sc = restricted_security_context(app.run_as_user)
    probe: Obj = (
        {"httpGet": {"path": app.health_path, "port": "http"}}
        if app.health_path
        else {"tcpSocket": {"port": "http"}}
    )
    env: list[Obj] = [{"name": k, "value": v} for k, v in sorted(app.env.items())]
    env += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": app_env_secret_name(name), "key": v}}}
        for k, v in sorted(app.secret_env.items())
    ]
    mounts: list[Obj] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[Obj] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if app.storage:
        mounts.append({"name": "data", "mountPath": app.storage.path})
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}})
    container: Obj = {
        "name": name,
        "image": app.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
    }
    if app.args:
        container["args"] = list(app.args)
    if env:
        container["env"] = env
    container.update(
        {
            "resources": _resources(app.resources),
            "readinessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
            "livenessProbe": {
                **probe,
                "periodSeconds": 20,
                "failureThreshold": 3,
                "initialDelaySeconds": 10,
            },
            "securityContext": ctr_sc,
            "volumeMounts": mounts,
        }
    )
    pod_spec: Obj = {
        "automountServiceAccountToken": False,
        "securityContext": pod_sc,
        "containers": [container],
        "volumes": volumes,
    }
    replicas = app.autoscale.min_replicas if app.autoscale else app.replicas
    if replicas > 1:
        # Spread replicas so one node going down does not take the app with it.
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": sel},
            }
        ]
    deploy_spec: Obj = {}
    if not app.autoscale:
        deploy_spec["replicas"] = app.replicas
    deploy_spec.update(
        {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": sel},
            # A ReadWriteOnce volume cannot be attached to two pods during a rolling update.
            "strategy": {"type": "Recreate"} if app.storage else {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": _labels(name)}, "spec": pod_spec},
        }
    )
    objs: list[Obj] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(name, namespace, **_labels(name)),
            "spec": deploy_spec,
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name, namespace, **_labels(name)),
            "spec": {
                "type": "ClusterIP",
                "selector": sel,
                "ports": [
                    {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
            },
        },
        traefik.ingress_route(
            cfg,
            name=name,
            namespace=namespace,
            host=cfg.host_of(app),
            service=name,
            port=SERVICE_PORT,
            auth=cfg.auth_of(app),
        ),
    ]
    if app.storage:
        pvc_spec: Obj = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": app.storage.size}},
        }
        if app.storage.storage_class:
            pvc_spec["storageClassName"] = app.storage.storage_class
        objs.append(
            keep(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": meta(f"{name}-data", namespace, **_labels(name)),
                    "spec": pvc_spec,
                }
            )
        )
    if replicas > 1:
        objs.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta(name, namespace, **_labels(name)),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": sel}},
            }
        )
    if app.autoscale:
        objs.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta(name, namespace, **_labels(name)),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": app.autoscale.min_replicas,
                    "maxReplicas": app.autoscale.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": app.autoscale.cpu_percent,
                                },
                            },
                        }
                    ],
                },
            }
        )
    return objs


def _app_policies(namespace: str, apps: list[App]) -> tuple[Obj, ...]:
    out: list[Obj] = []
    for app in apps:
        sel = {"matchLabels": {"app.kubernetes.io/name": app.name}}
        out.append(
            netpol(
                f"allow-traefik-{app.name}",
                namespace,
                pod_selector=sel,
                ingress=[{**FROM_TRAEFIK, "ports": [{"protocol": "TCP", "port": app.port}]}],
            )
        )
        if app.internet:
            out.append(
                netpol(
                    f"allow-internet-{app.name}",
                    namespace,
                    pod_selector=sel,
                    egress=[INTERNET_EGRESS],
                )
            )
    out.append(netpol("allow-dns", namespace, egress=[DNS_EGRESS]))
    return tuple(out)


def kept_objects(app: App) -> list[str]:
    """What Argo CD leaves in the cluster when the app leaves homeport.yaml.

    Args:
        app: The app being removed.

    Returns:
        ``kind/name`` lines (namespace first), empty when the app holds no data.
    """
    if app.storage is None:
        return []
    return [f"namespace/{app.name}", f"persistentvolumeclaim/{app.name}-data -n {app.name}"]


def demo_apps(cfg: HomeportConfig) -> list[App]:
    """The seed's demo apps: whoami (public) and hello (behind SSO when it exists)."""
    return [
        App(
            name="whoami",
            image=WHOAMI_IMAGE,
            port=8080,
            replicas=2,
            auth="public",
            args=["--port", "8080"],
            health_path="/health",
        ),
        App(
            name="hello",
            image=HELLO_IMAGE,
            port=5678,
            replicas=2,
            auth="sso" if cfg.sso else "public",
            args=["-listen=:5678", "-text=hello from homeport"],
            health_path="/",
        ),
    ]


def components(cfg: HomeportConfig) -> list[Component]:
    """One Application for the demo apps and one per user app, each in its own namespace."""
    out: list[Component] = []
    if cfg.components.demo_apps.enabled:
        demos = demo_apps(cfg)
        objs = [o for app in demos for o in workload(cfg, app, DEMO_NAMESPACE)]
        out.append(
            Component(
                name="demo-apps",
                namespace=DEMO_NAMESPACE,
                wave=WAVE_APPS,
                objects=objs,
                skip_dry_run=True,
                namespaces=[
                    NamespaceSpec(
                        DEMO_NAMESPACE, "restricted", _app_policies(DEMO_NAMESPACE, demos)
                    )
                ],
                description="Demo apps: whoami (public) and hello (SSO)",
            )
        )
    for app in cfg.apps:
        out.append(
            Component(
                name=f"app-{app.name}",
                namespace=app.name,
                wave=WAVE_APPS,
                objects=workload(cfg, app, app.name),
                skip_dry_run=True,
                namespaces=[
                    NamespaceSpec(
                        app.name,
                        "restricted",
                        _app_policies(app.name, [app]),
                        keep=app.storage is not None,
                    )
                ],
                description=f"{app.name} at {cfg.host_of(app)} ({cfg.auth_of(app)})",
            )
        )
    return out
