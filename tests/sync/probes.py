"""Helpers for tests against a SimCluster: polling, object builders, the host namespace."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from homeport.cluster.kube import Kube, Obj

T = TypeVar("T")
LABELS = {"app": "web"}


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll until ``fn`` returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def cond(obj: Obj | None, kind: str) -> str | None:
    """The status of a condition of an object (``True``/``False``), None when absent."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return str(c["status"])
    return None


def deployment(ns: str, name: str, replicas: int, **pod_spec: Any) -> Obj:
    """A Deployment with pod label ``app: <name>``; ``pod_spec`` entries override the spec."""
    labels = {"app": name}
    spec = {"containers": [{"name": "c", "image": "registry.invalid/app:1"}], **pod_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def service(ns: str, name: str, port: int, kind: str = "ClusterIP") -> Obj:
    """A TCP Service of ``type: kind`` selecting :data:`LABELS`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": kind, "selector": LABELS, "ports": [{"port": port, "protocol": "TCP"}]},
    }


def in_host_netns(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread moved to the namespace pytest was started in."""
    out: list[Any] = []

    def run() -> None:
        fd = os.open(f"/proc/{os.getppid()}/ns/net", os.O_RDONLY)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            assert libc.setns(fd, 0x40000000) == 0, os.strerror(ctypes.get_errno())
        finally:
            os.close(fd)
        try:
            out.append(fn())
        except Exception as exc:  # handed to the caller
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if isinstance(out[0], Exception):
        raise out[0]
    return out[0]  # type: ignore[no-any-return]


def once(
    kube: Kube, api_version: str, kind: str, name: str, ns: str | None, ok: Callable[[Obj], bool]
) -> Callable[[], Obj | None]:
    """A probe for :func:`wait_for`: the object once ``ok(object)`` holds, else None."""

    def probe() -> Obj | None:
        obj = kube.get(api_version, kind, name, ns)
        return obj if obj is not None and ok(obj) else None

    return probe


def available(kube: Kube, ns: str, name: str, replicas: int) -> Callable[[], Obj | None]:
    """A probe: the Deployment once Available with ``replicas`` ready."""

    def ok(d: Obj) -> bool:
        return cond(d, "Available") == "True" and d["status"].get("readyReplicas") == replicas

    return once(kube, "apps/v1", "Deployment", name, ns, ok)


def ingress(kube: Kube, ns: str, name: str) -> list[str]:
    """The addresses in a Service's ``status.loadBalancer.ingress``."""
    svc = kube.get("v1", "Service", name, ns) or {}
    lb = (svc.get("status") or {}).get("loadBalancer") or {}
    return [i["ip"] for i in lb.get("ingress") or []]
