"""Shared helpers for the Authentik tests: configs, a blueprint reader, CRD schemas."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from configs import BASE, NO_SSO, config
from homeport import yamlio
from homeport.gitops import RenderedTree, render_tree

__all__ = ["BASE", "NO_SSO", "config", "objects", "render"]


def objects(tree: RenderedTree) -> list[tuple[str, dict[str, Any]]]:
    """Every rendered object with its file path."""
    return [(p, o) for p, o in tree.objects() if isinstance(o, dict)]


def render(extra: str = "") -> RenderedTree:
    """Render the tree of a config built by :func:`config`."""
    return render_tree(config(extra))


@dataclass(frozen=True)
class Tag:
    """A blueprint YAML tag (``!Find``, ``!KeyOf``, ...) and its argument."""

    tag: str
    value: Any


class _BlueprintLoader(yaml.SafeLoader):
    """Reads Authentik blueprints: their custom tags become :class:`Tag` values.

    Reading only; homeport writes YAML through homeport.yamlio alone.
    """


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tag:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return Tag("!" + suffix, value)


_BlueprintLoader.add_multi_constructor("!", _construct_tag)


def load_blueprint(text: str) -> dict[str, Any]:
    """Parse one blueprint file."""
    doc = yaml.load(text, Loader=_BlueprintLoader)
    assert isinstance(doc, dict)
    return doc


def crd_dir() -> Path:
    """``$HOMEPORT_CRD_DIR`` (scripts/test.sh sets it to ../shared/crds)."""
    env = os.environ.get("HOMEPORT_CRD_DIR")
    assert env, "HOMEPORT_CRD_DIR must point at the pinned CRDs (scripts/test.sh sets it)"
    return Path(env)


def _strict(node: Any) -> Any:
    # Kubernetes strict field validation rejects unknown fields: mirror that, so a
    # misspelt key fails here rather than being pruned silently by the API server.
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
        return out
    if isinstance(node, list):
        return [_strict(x) for x in node]
    return node


def crd_schema(folder: str, file: str, version: str) -> dict[str, Any]:
    """The strict openAPIV3Schema of one CRD version."""
    crd = yamlio.load((crd_dir() / folder / file).read_text(encoding="utf-8"))
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema: dict[str, Any] = _strict(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
            return schema
    raise AssertionError(f"{file}: no version {version}")


# authentik-client model modules these tests read (class name -> module under .models).
AK_MODELS = {
    "ProxyProviderRequest": "proxy_provider_request",
    "ApplicationRequest": "application_request",
    "OutpostRequest": "outpost_request",
    "OAuth2ProviderRequest": "o_auth2_provider_request",
    "AuthenticatorValidateStageRequest": "authenticator_validate_stage_request",
    "ProxyMode": "proxy_mode",
    "OutpostTypeEnum": "outpost_type_enum",
    "NotConfiguredActionEnum": "not_configured_action_enum",
    "ClientTypeEnum": "client_type_enum",
}


def authentik_models() -> types.SimpleNamespace:
    """The pinned ``authentik-client``'s models of :data:`AK_MODELS`, without its API client.

    ``import authentik_client`` first builds a validator for every API endpoint (about
    5 s of CPU, at collection in every pytest worker); the models are plain pydantic
    modules that import only each other. They are loaded under their own names with the
    two parent packages standing in for a moment, so a later ``import authentik_client``
    gets the real package (and reuses these modules).
    """
    spec = importlib.util.find_spec("authentik_client")
    assert spec is not None and spec.submodule_search_locations
    root = next(iter(spec.submodule_search_locations))
    parents = {"authentik_client": root, "authentik_client.models": os.path.join(root, "models")}
    added = []
    for name, path in parents.items():
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [path]
            sys.modules[name] = pkg
            added.append(name)
    try:
        found = {
            cls: getattr(importlib.import_module(f"authentik_client.models.{mod}"), cls)
            for cls, mod in AK_MODELS.items()
        }
    finally:
        for name in added:
            del sys.modules[name]
    return types.SimpleNamespace(**found)
