"""Names every layer shares: namespaces, API groups and well-known objects, spelled once.

No imports: config, platform, check, cluster, the DDNS controller and the CLI all read
these, so renaming a namespace or a group is a change in one place.
"""

from __future__ import annotations

# -- namespaces ---------------------------------------------------------------------------
ARGOCD_NAMESPACE = "argocd"
TRAEFIK_NAMESPACE = "traefik"
CERT_MANAGER_NAMESPACE = "cert-manager"
AUTHENTIK_NAMESPACE = "authentik"
CNPG_NAMESPACE = "cnpg-system"
MONITORING_NAMESPACE = "monitoring"
DDNS_NAMESPACE = "cloudflare-ddns"
METALLB_NAMESPACE = "metallb-system"
BACKUP_NAMESPACE = "homeport-backup"
KUBE_SYSTEM = "kube-system"
# The Sealed Secrets controller and its key live where kubeseal looks by default.
SEALED_SECRETS_NAMESPACE = KUBE_SYSTEM
# Namespaces every cluster has (the tree never creates them).
BUILTIN_NAMESPACES = frozenset({"default", "kube-node-lease", "kube-public", KUBE_SYSTEM})

# -- well-known objects -------------------------------------------------------------------
# The ConfigMap the DDNS controller publishes its status to (in DDNS_NAMESPACE).
DDNS_STATUS_CONFIGMAP = "homeport-ddns-status"

# Argo CD's sync-wave annotation (the tree writes it; the check orders by it).
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"

# -- API groups of the CRDs the platform installs -----------------------------------------
ARGOCD_GROUP = "argoproj.io"
CERT_MANAGER_GROUP = "cert-manager.io"
TRAEFIK_GROUP = "traefik.io"
SEALED_SECRETS_GROUP = "bitnami.com"
PROMETHEUS_GROUP = "monitoring.coreos.com"
CNPG_GROUP = "postgresql.cnpg.io"
METALLB_GROUP = "metallb.io"
