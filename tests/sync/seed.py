"""Objects a simulated cluster starts with: its Nodes and its default StorageClass."""

from __future__ import annotations

from homeport.cluster.kube import Obj


def kwok_node(name: str, ip: str, annotation: str) -> Obj:
    """A Node KWOK manages (``<annotation>: fake``), 8 CPUs, 32 GiB, 110 pods, one InternalIP."""
    capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {annotation: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "capacity": capacity,
            "allocatable": capacity,
        },
    }


def storage_class(name: str) -> Obj:
    """The default StorageClass: the in-tree hostPath provisioner (kube-controller-manager
    ``--enable-hostpath-provisioner``), binding at once (k3s's local-path waits for a pod)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kubernetes.io/host-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
