"""Checks on admission webhooks: is the caBundle injected, does the webhook answer, what it says."""

from __future__ import annotations

from typing import Any

from homeport.cluster.apply import apply_objects
from homeport.cluster.kube import Kube
from homeport.errors import ClusterError

from .operators import Proc, wait_for


def ca_bundles(kube: Kube, kind: str, name: str) -> list[str]:
    """The caBundle of each webhook of a webhook configuration ("" where unset)."""
    obj = kube.get("admissionregistration.k8s.io/v1", kind, name) or {}
    return [str(h["clientConfig"].get("caBundle") or "") for h in obj.get("webhooks") or []]


def wait_injected(kube: Kube, proc: Proc, kind: str, name: str) -> None:
    """Wait until every webhook of the configuration has a caBundle."""
    wait_for(f"{kind} {name} caBundle", lambda: all(ca_bundles(kube, kind, name)), proc, 90)


def dry_run(kube: Kube, obj: dict[str, Any]) -> str:
    """``accepted``, or why the API server refused ``obj`` (server-side dry run)."""
    try:
        apply_objects(kube, [obj], dry_run=True, create_namespaces=False)
    except ClusterError as exc:
        return str(exc)
    return "accepted"


def rejection(kube: Kube, obj: dict[str, Any]) -> str:
    """The API server's refusal of ``obj`` (fails the test if it was accepted)."""
    try:
        apply_objects(kube, [obj], create_namespaces=False)
    except ClusterError as exc:
        return str(exc)
    raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} was accepted")
