"""A small valid GitOps tree, built in code so each corpus case breaks one thing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from homeport import yamlio

Obj = dict[str, Any]
WEB = "components/web/web.yaml"
REPO = "https://github.com/example/home.git"
ZONE = "example.com"


def app(
    name: str,
    wave: int,
    namespace: str,
    *,
    path: str | None = None,
    chart: tuple[str, str] = ("", ""),
    values: Obj | None = None,
    create_ns: bool = False,
) -> Obj:
    source: Obj
    if path is not None:
        source = {"repoURL": REPO, "targetRevision": "main", "path": path}
    else:
        source = {
            "repoURL": f"https://charts.example/{chart[0]}",
            "chart": chart[0],
            "targetRevision": chart[1],
            "helm": {"releaseName": name, "valuesObject": values or {}},
        }
    sync: Obj = {"automated": {"prune": True, "selfHeal": True}}
    if create_ns:
        sync["syncOptions"] = ["CreateNamespace=true"]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "annotations": {"argocd.argoproj.io/sync-wave": str(wave)},
        },
        "spec": {
            "project": "homeport",
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": sync,
        },
    }


def namespace(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def deny_all(ns: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def sealed(ns: str, name: str) -> Obj:
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "encryptedData": {"token": "AgBy3i4OJSWK+PiTySYZZA=="},
            "template": {"metadata": {"name": name, "namespace": ns}, "type": "Opaque"},
        },
    }


def deployment() -> Obj:
    labels = {"app.kubernetes.io/name": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "web",
                            "image": "traefik/whoami:v1.11.0",
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "envFrom": [{"secretRef": {"name": "web-env"}}],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "livenessProbe": {"tcpSocket": {"port": "http"}},
                            "readinessProbe": {"tcpSocket": {"port": "http"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def base_tree() -> dict[str, list[Obj]]:
    """Relative path -> documents of a tree that passes every check."""
    traefik_values = {
        "tlsStore": {"default": {"defaultCertificate": {"secretName": "wildcard-tls"}}},
        "providers": {"kubernetesCRD": {"enabled": True, "allowCrossNamespace": True}},
    }
    web_ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    return {
        "root-app.yaml": [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "root", "namespace": "argocd"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO, "targetRevision": "main", "path": "cluster/apps"},
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": "argocd",
                    },
                },
            }
        ],
        "apps/project.yaml": [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": "homeport", "namespace": "argocd"},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            }
        ],
        "apps/namespaces.yaml": [
            app("namespaces", -10, "default", path="cluster/components/namespaces")
        ],
        "apps/sealed-secrets.yaml": [
            app("sealed-secrets", -8, "kube-system", chart=("sealed-secrets", "2.18.5"))
        ],
        "apps/secrets.yaml": [app("secrets", -7, "default", path="cluster/secrets")],
        "apps/traefik.yaml": [
            app("traefik", -6, "traefik", chart=("traefik", "41.3.0"), values=traefik_values)
        ],
        "apps/cert-manager.yaml": [
            app(
                "cert-manager",
                -6,
                "cert-manager",
                chart=("cert-manager", "v1.21.1"),
                values={"crds": {"enabled": True}},
            )
        ],
        "apps/config.yaml": [app("config", -5, "traefik", path="cluster/components/config")],
        "apps/web.yaml": [app("web", 0, "web", path="cluster/components/web")],
        "components/namespaces/namespaces.yaml": [
            *(namespace(n) for n in ("traefik", "cert-manager", "web")),
            *(deny_all(n) for n in ("traefik", "cert-manager", "web")),
        ],
        "components/config/clusterissuer.yaml": [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": "letsencrypt"},
                "spec": {
                    "acme": {
                        "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
                        "email": "ops@example.com",
                        "privateKeySecretRef": {"name": "letsencrypt-account"},
                        "solvers": [
                            {
                                "selector": {"dnsZones": [ZONE]},
                                "dns01": {
                                    "cloudflare": {
                                        "apiTokenSecretRef": {
                                            "name": "cloudflare-api-token",
                                            "key": "token",
                                        }
                                    }
                                },
                            }
                        ],
                    }
                },
            }
        ],
        "components/config/certificate.yaml": [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": "wildcard", "namespace": "traefik"},
                "spec": {
                    "secretName": "wildcard-tls",
                    "dnsNames": [ZONE, f"*.{ZONE}"],
                    "issuerRef": {
                        "name": "letsencrypt",
                        "kind": "ClusterIssuer",
                        "group": "cert-manager.io",
                    },
                },
            }
        ],
        "components/config/middleware.yaml": [
            {
                "apiVersion": "traefik.io/v1alpha1",
                "kind": "Middleware",
                "metadata": {"name": "security-headers", "namespace": "traefik"},
                "spec": {"headers": {"frameDeny": True, "stsSeconds": 31536000}},
            }
        ],
        "components/web/web.yaml": [
            deployment(),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "web"},
                "spec": {"selector": {"app.kubernetes.io/name": "web"}, "ports": web_ports},
            },
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "web", "namespace": "web"},
                "spec": {
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
                },
            },
            {
                "apiVersion": "traefik.io/v1alpha1",
                "kind": "IngressRoute",
                "metadata": {"name": "web", "namespace": "web"},
                "spec": {
                    "entryPoints": ["websecure"],
                    "routes": [
                        {
                            "kind": "Rule",
                            "match": f"Host(`web.{ZONE}`)",
                            "middlewares": [{"name": "security-headers", "namespace": "traefik"}],
                            "services": [{"name": "web", "port": 80}],
                        }
                    ],
                    "tls": {},
                },
            },
        ],
        "secrets/cert-manager/cloudflare-api-token.yaml": [
            sealed("cert-manager", "cloudflare-api-token")
        ],
        "secrets/web/web-env.yaml": [sealed("web", "web-env")],
    }


def write_tree(root: Path, tree: dict[str, list[Obj]]) -> Path:
    for rel, docs in tree.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(yamlio.dump_all(copy.deepcopy(docs)))
    return root


def line_of(root: Path, rel: str, needle: str, start: int = 1) -> int:
    """1-based line of the first line at or after ``start`` containing ``needle``."""
    for i, line in enumerate((root / rel).read_text().splitlines(), 1):
        if i >= start and needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {rel}")


def web(t: dict[str, list[Obj]], kind: str) -> dict[str, Any]:
    return next(d for d in t[WEB] if d["kind"] == kind)


def container(t: dict[str, list[Obj]]) -> dict[str, Any]:
    c: dict[str, Any] = web(t, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return c


def seal_required(cfg: Any, root: Path) -> None:
    """Seal what `homeport init` / `homeport secret set` would for the config (throwaway key).

    Besides ``platform_secrets``, the S3 backup credentials and the Alertmanager SMTP
    password that the rendered tree references (issue 11 makes `homeport init` seal them;
    until then a user seals them with `homeport secret set`).
    """
    from homeport import sealing, secretstore
    from homeport.platform.authentik import BACKUP_SECRET
    from homeport.platform.monitoring import SMTP_SECRET
    from homeport.platform.secrets import platform_secrets
    from keys import throwaway_cert

    cert = throwaway_cert()
    wanted = [(s.namespace, s.name, s.keys, s.type) for s in platform_secrets(cfg)]
    for a in cfg.apps:
        if a.secret_env:
            wanted.append((a.name, f"{a.name}-env", tuple(a.secret_env.values()), "Opaque"))
    have = {(ns, n) for ns, n, _k, _t in wanted}
    if cfg.backup.s3 is not None and ("authentik", BACKUP_SECRET) not in have:
        s3_keys = ("ACCESS_KEY_ID", "ACCESS_SECRET_KEY", "REGION")
        wanted.append(("authentik", BACKUP_SECRET, s3_keys, "Opaque"))
    monitoring = root / "apps" / "monitoring.yaml"
    smtp = monitoring.is_file() and SMTP_SECRET in monitoring.read_text()
    if smtp and ("monitoring", SMTP_SECRET) not in have:
        wanted.append(("monitoring", SMTP_SECRET, ("username", "password"), "Opaque"))
    for ns, name, keys, typ in wanted:
        obj = sealing.seal_secret(cert, name, ns, {k: b"x" for k in keys}, secret_type=typ)
        secretstore.write_sealed(root, obj, replace=True)
    # The mirror logins (mirror.credentials), as `homeport secret set` seals them.
    from homeport import mirrorcreds
    from homeport.platform.mirror import logins

    for login in logins(cfg):
        obj = mirrorcreds.seal_login(cert, login, {k: b"x" for k in login.keys})
        secretstore.write_sealed(root, obj, replace=True)
