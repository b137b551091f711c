"""The status document ``homeport status`` reads, and publishing it as a ConfigMap.

Format (data key ``status.json`` of ConfigMap ``homeport-ddns-status``)::

    {"lastRun": "2026-01-02T03:04:05Z", "lastSuccess": "...Z" | null,
     "addresses": {"ipv4": "203.0.113.7" | null, "ipv6": "..." | null},
     "records": [{"name": "example.com", "type": "A", "content": "...", "state": "ok"}],
     "lastError": "..." | null, "consecutiveFailures": 0}
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from homeport.ddns.reconcile import RecordState

STATUS_KEY = "status.json"
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
log = logging.getLogger("homeport.ddns")


def rfc3339(ts: float | None) -> str | None:
    """Format a Unix time as RFC 3339 UTC with a Z suffix (None stays None)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def status_document(
    *,
    last_run: float,
    last_success: float | None,
    addresses: dict[str, str | None],
    records: Sequence[RecordState],
    last_error: str | None,
    consecutive_failures: int,
) -> dict[str, Any]:
    """Build the status document (see the module docstring for the format)."""
    return {
        "lastRun": rfc3339(last_run),
        "lastSuccess": rfc3339(last_success),
        "addresses": {"ipv4": addresses.get("ipv4"), "ipv6": addresses.get("ipv6")},
        "records": [
            {"name": r.name, "type": r.type, "content": r.content, "state": r.state}
            for r in records
        ],
        "lastError": last_error,
        "consecutiveFailures": consecutive_failures,
    }


def encode(doc: dict[str, Any]) -> str:
    """Serialise the document deterministically."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


class Publisher(Protocol):
    """Something that stores the status document."""

    def publish(self, doc: dict[str, Any]) -> None:
        """Store the document; must not raise on transient failures."""
        ...


class ConfigMapPublisher:
    """Server-side apply of the status ConfigMap through the Kubernetes API (lightkube)."""

    def __init__(self, name: str, namespace: str, client: Any | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self._client = client

    def _get_client(self) -> Any:
        if self._client is None:
            from lightkube import Client  # lightkube only matters inside a cluster

            self._client = Client(field_manager="homeport-ddns")
        return self._client

    def publish(self, doc: dict[str, Any]) -> None:
        """Apply the ConfigMap; log (never raise) when the API is unavailable."""
        from lightkube.models.meta_v1 import ObjectMeta
        from lightkube.resources.core_v1 import ConfigMap

        cm = ConfigMap(
            metadata=ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={
                    "app.kubernetes.io/managed-by": "homeport",
                    "app.kubernetes.io/name": "ddns",
                },
            ),
            data={STATUS_KEY: encode(doc)},
        )
        try:
            self._get_client().apply(cm, field_manager="homeport-ddns", force=True)
        except Exception as exc:  # any API/transport failure must not stop DNS work
            log.warning(
                "could not publish status",
                extra={"configmap": f"{self.namespace}/{self.name}", "error": type(exc).__name__},
            )


def in_cluster_namespace() -> str | None:
    """Return the pod's namespace when running in a cluster, else None."""
    if not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    try:
        return SA_NAMESPACE_FILE.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def publisher_for(
    configmap: str | None, namespace: str | None, default_name: str
) -> Publisher | None:
    """Pick where the status goes: the named ConfigMap, or the default one in a cluster.

    Args:
        configmap: ``--status-configmap`` (None: only when in a cluster).
        namespace: ``--status-namespace`` (None: the pod's namespace, else "default").
        default_name: ConfigMap name used in a cluster when none was given.

    Returns:
        A publisher, or None when the status is not published.
    """
    pod_ns = in_cluster_namespace()
    if configmap is None and pod_ns is None:
        return None
    return ConfigMapPublisher(configmap or default_name, namespace or pod_ns or "default")
