"""The guard that keeps plaintext Secrets out of the GitOps tree.

Kept apart from :mod:`homeport.secretstore` so rendering does not load the crypto stack.
"""

from __future__ import annotations

from typing import Any

from homeport.errors import PlaintextSecretError


def guard_no_plaintext(obj: Any) -> None:
    """Refuse a plain Secret that carries values (the GitOps tree must never hold one).

    Call it on every object written into the tree. ``v1`` Lists are checked item by item.
    An empty Secret (no ``data``/``stringData``) passes: it holds nothing secret.

    Args:
        obj: A Kubernetes object as a plain value.

    Raises:
        PlaintextSecretError: ``obj`` is (or contains) a Secret with data or stringData.
    """
    if not isinstance(obj, dict):
        return
    kind = obj.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List")):
        for item in obj.get("items") or []:
            guard_no_plaintext(item)
        return
    if kind != "Secret" or obj.get("apiVersion", "v1") != "v1":
        return
    if obj.get("data") or obj.get("stringData"):
        md = obj.get("metadata") or {}
        ref = f"{md.get('namespace', '')}/{md.get('name', '')}".strip("/") or "(unnamed)"
        raise PlaintextSecretError(
            f"refusing to write Secret {ref} with plaintext data into the GitOps tree; "
            "seal it with `homeport secret set`"
        )
