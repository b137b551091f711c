"""The backup CronJob's objects: ``homeport backup`` on a schedule, inside the cluster.

It runs homeport's own image with a read-only ServiceAccount (what
:func:`homeport.cluster.backup.collect` reads: Secrets and namespaces cluster-wide, CRDs,
Argo CD's objects, Certificates, and ConfigMaps in ``argocd`` only), encrypts to age
recipients kept in a ConfigMap (public keys only: the identity that decrypts never enters
the cluster), and writes timestamped, compressed archives to a PersistentVolumeClaim,
keeping the newest ``keep``. Copy them off the node with your usual volume backup, or
mount an object-store-backed volume.
"""

from __future__ import annotations

# Builds objects only (platform layer); cluster/ applies them, render places them in the tree.
from homeport.platform.base import Obj
from homeport.platform.base import keep as keep_data
from homeport.wellknown import ARGOCD_GROUP, ARGOCD_NAMESPACE, BACKUP_NAMESPACE, CERT_MANAGER_GROUP

NAME = BACKUP_NAMESPACE  # the namespace, and the job and its objects in it
RECIPIENTS_KEY = "recipients.txt"


def backup_objects(
    *,
    image: str,
    recipients: list[str],
    namespace: str = NAME,
    schedule: str = "0 3 * * *",
    storage: str = "1Gi",
    storage_class: str | None = None,
    keep: int = 7,
) -> list[Obj]:
    """The objects of the backup CronJob (namespace not included).

    Args:
        image: homeport's image (the one the DDNS controller runs).
        recipients: age public keys (``age1...``) the archives are encrypted to.
        namespace: Namespace the job runs in.
        schedule: Cron schedule.
        storage: Size of the archive volume.
        storage_class: StorageClass of the volume (default: the cluster's).
        keep: Archives kept on the volume; each run deletes older ones.

    Returns:
        ServiceAccount, ClusterRole, ClusterRoleBinding, Role and RoleBinding (Argo CD's
        ConfigMaps), ConfigMap, PVC and CronJob.
    """
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "homeport"}

    def md(name: str, ns: bool = True) -> Obj:
        out: Obj = {"name": name, "labels": dict(labels)}
        if ns:
            out["namespace"] = namespace
        return out

    read = ["get", "list"]
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": md(NAME, ns=False),
        "rules": [
            # What homeport.cluster.backup.collect() reads across namespaces. Which
            # namespaces' Secrets it keeps is decided at run time (platform namespaces,
            # every namespace labelled managed-by homeport, those of Certificates, the
            # sealing key in kube-system), so Secrets are readable cluster-wide.
            {"apiGroups": [""], "resources": ["secrets", "namespaces"], "verbs": read},
            {
                "apiGroups": ["apiextensions.k8s.io"],
                "resources": ["customresourcedefinitions"],
                "verbs": read,
            },
            {
                "apiGroups": [ARGOCD_GROUP],
                "resources": ["applications", "appprojects"],
                "verbs": read,
            },
            {"apiGroups": [CERT_MANAGER_GROUP], "resources": ["certificates"], "verbs": read},
        ],
    }
    # ConfigMaps: only Argo CD's settings are backed up.
    cm_role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {**md(NAME, ns=False), "namespace": ARGOCD_NAMESPACE},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": read}],
    }
    cm_binding: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {**md(NAME, ns=False), "namespace": ARGOCD_NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    }
    pvc_spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage}},
    }
    if storage_class:
        pvc_spec["storageClassName"] = storage_class
    security: Obj = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    job_pod: Obj = {
        "serviceAccountName": NAME,
        "restartPolicy": "OnFailure",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "fsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "backup",
                "image": image,
                # The image's entry point is `homeport ddns run`; name the program here.
                "command": ["homeport"],
                "args": [
                    "backup",
                    "--out",
                    "/backups/homeport-{timestamp}.age",
                    "--recipient-file",
                    f"/etc/homeport-backup/{RECIPIENTS_KEY}",
                    "--keep",
                    str(keep),
                ],
                "securityContext": security,
                "resources": {
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                    "limits": {"memory": "512Mi"},
                },
                "volumeMounts": [
                    {"name": "backups", "mountPath": "/backups"},
                    {"name": "recipients", "mountPath": "/etc/homeport-backup", "readOnly": True},
                ],
            }
        ],
        "volumes": [
            {"name": "backups", "persistentVolumeClaim": {"claimName": NAME}},
            {"name": "recipients", "configMap": {"name": NAME}},
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": md(NAME)},
        role,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": md(NAME, ns=False),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        cm_role,
        cm_binding,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": md(NAME),
            "data": {RECIPIENTS_KEY: "".join(f"{r}\n" for r in recipients)},
        },
        # The archives: never pruned or deleted by Argo CD.
        keep_data(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": md(NAME),
                "spec": pvc_spec,
            }
        ),
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": md(NAME),
            "spec": {
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "template": {"metadata": {"labels": dict(labels)}, "spec": job_pod},
                    }
                },
            },
        },
    ]
