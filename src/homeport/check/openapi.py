"""Kubernetes-flavoured OpenAPI v3 schemas turned into strict JSON Schema (draft 2020-12).

``$ref`` targets move to ``$defs``; ``x-kubernetes-int-or-string`` becomes
integer-or-string; ``nullable`` adds ``null``; descriptions, formats and defaults are
dropped (annotations only). Strict mode: every object schema that lists ``properties``
and has neither ``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields`` gets
``additionalProperties: false``, which is what the API server's field validation
(``fieldValidation=Strict``) enforces.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# k8s.io/apimachinery resource.ParseQuantity: signed number, then a binary-SI, decimal-SI
# or decimal-exponent suffix (the same pattern controller-gen writes into CRDs).
QUANTITY_RE = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_REF_PREFIX = "#/components/schemas/"
_DEFS_PREFIX = "#/$defs/"

_DROP = {"description", "format", "default", "example", "externalDocs", "readOnly", "nullable"}


def convert(schema: Any, *, strict: bool = True, crd_root: bool = False) -> Any:
    """Convert one OpenAPI v3 (Kubernetes flavour) schema into JSON Schema 2020-12.

    Args:
        schema: The OpenAPI schema.
        strict: Reject unknown fields (see the module docstring).
        crd_root: The schema is a CRD's ``openAPIV3Schema``: its ``metadata`` is
            validated as Kubernetes ObjectMeta.

    Returns:
        The JSON Schema.
    """
    if isinstance(schema, list):
        return [convert(s, strict=strict) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Obj = {}
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for k, v in schema.items():
        if k in _DROP or k.startswith("x-"):
            continue
        if k == "$ref" and isinstance(v, str) and v.startswith(_REF_PREFIX):
            out[k] = "#/$defs/" + v[len(_REF_PREFIX) :]
        elif k in ("properties", "patternProperties", "$defs", "definitions"):
            out[k] = {name: convert(s, strict=strict) for name, s in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = convert(v, strict=strict)
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [convert(s, strict=strict) for s in v]
        else:
            out[k] = v
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable"):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if schema.get("x-kubernetes-embedded-resource") and "properties" in out:
        props = out["properties"]
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if strict and "properties" in out and "additionalProperties" not in schema and not preserve:
        out["additionalProperties"] = False
    if crd_root and isinstance(out.get("properties"), dict):
        props = out["properties"]
        md = props.get("metadata")
        extra = convert(md, strict=False) if isinstance(md, dict) else {}
        extra.pop("additionalProperties", None)
        props["metadata"] = {"allOf": [{"$ref": f"#/$defs/{OBJECT_META}"}, extra]}
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
    return out


def collect_refs(schema: Any, acc: set[str]) -> None:
    """Add to ``acc`` the ``$defs`` names a converted schema refers to (at any depth)."""
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(_DEFS_PREFIX):
                acc.add(v[len(_DEFS_PREFIX) :])
            else:
                collect_refs(v, acc)
    elif isinstance(schema, list):
        for v in schema:
            collect_refs(v, acc)
