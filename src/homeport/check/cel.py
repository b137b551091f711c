"""CRD structural defaults and a small CEL subset for ``x-kubernetes-validations``.

The API server applies a CRD's ``default`` values before it evaluates the CRD's CEL
rules, so :func:`apply_defaults` runs first and :func:`validate` second.

Supported CEL subset (enough for every rule in the pinned CRDs):

* literals: integers, floats, single- or double-quoted strings, ``true``, ``false``,
  ``null``, lists ``[a, b]``;
* ``self`` and field selection ``self.a.b``, indexing ``x[0]`` / ``x['key']``;
* ``has(self.field)``, ``size(x)`` and the methods ``x.size()``, ``startsWith``,
  ``endsWith``, ``contains``, ``matches`` (Python ``re.search``);
* operators ``!``, unary ``-``, ``* / %``, ``+ -``, ``< <= > >= == !=``, ``in``,
  ``&&``, ``||`` and ``c ? a : b``;
* ``duration(s)`` with ``getHours()``, ``getMinutes()``, ``getSeconds()``,
  ``getMilliseconds()``.

Semantics follow cel-go as the API server runs it, proven against a real kube-apiserver
(tests/cluster/test_cel_oracle.py): ``||`` and ``&&`` absorb an error on either side when the
other side decides the result (``true || error`` and ``error || true`` are both true);
integers are 64-bit, overflow is an error, ``/`` and ``%`` truncate toward zero; there is no
mixed int/double arithmetic; ``==`` between different types is false, ordering them an error.

Rules outside the subset, and transition rules (those that use ``oldSelf``, which
cannot fail on create), are skipped; :func:`validate` reports how many were skipped.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from homeport.check.celparse import Parser, tokens
from homeport.check.celvalues import ERRORS, CelError, CelUnsupported, Fn, Obj, truth

__all__ = ["CelError", "CelFailure", "CelUnsupported", "apply_defaults", "evaluate", "validate"]


# (id(schema node), key) -> (node, whether the key occurs anywhere in it); the node is
# kept so that its id cannot be reused by another object while the entry exists.
_MENTIONS: dict[tuple[int, str], tuple[Any, bool]] = {}


def _mentions(schema: Any, key: str) -> bool:
    """Whether ``key`` is a mapping key anywhere inside ``schema`` (memoized per node)."""
    hit = _MENTIONS.get((id(schema), key))
    if hit is not None and hit[0] is schema:
        return hit[1]
    if isinstance(schema, dict):
        found = key in schema
        values: Any = schema.values()
    elif isinstance(schema, list):
        found, values = False, schema
    else:
        return False
    if not found:
        for v in values:
            if isinstance(v, (dict, list)) and _mentions(v, key):
                found = True
                break
    if len(_MENTIONS) > 500_000:  # a long-lived process checking many trees' own CRDs
        _MENTIONS.clear()
    _MENTIONS[(id(schema), key)] = (schema, found)
    return found


# -- defaults -----------------------------------------------------------------------------
def apply_defaults(schema: Obj, value: Any) -> Any:
    """Return ``value`` with the schema's structural defaults filled in (input unchanged).

    Args:
        schema: A CRD ``openAPIV3Schema`` (or a part of one).
        value: The object (or part of it).

    Returns:
        A defaulted copy (parts under schema nodes without any default are shared).
    """
    if not _mentions(schema, "default"):
        return value  # nothing to fill in below here
    if isinstance(value, dict):
        out = dict(value)
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if name not in out and isinstance(sub, dict) and "default" in sub:
                    out[name] = copy.deepcopy(sub["default"])
                if name in out and isinstance(sub, dict):
                    out[name] = apply_defaults(sub, out[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k in list(out):
                if not isinstance(props, dict) or k not in props:
                    out[k] = apply_defaults(extra, out[k])
        return out
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [apply_defaults(items, v) for v in value]
    return value


_COMPILED: dict[str, Fn | CelUnsupported] = {}


def compile_rule(rule: str) -> Fn:
    """Compile a CEL rule of the supported subset into a function of ``{"self": value}``.

    Raises:
        CelUnsupported: The rule is outside the subset.
    """
    cached = _COMPILED.get(rule)
    if isinstance(cached, CelUnsupported):
        raise cached
    if cached is not None:
        return cached
    try:
        p = Parser(tokens(rule))
        fn = p.expr()
        if p.toks[p.pos][0] != "end":
            raise CelUnsupported("trailing input")
    except CelUnsupported as exc:
        _COMPILED[rule] = exc
        raise
    _COMPILED[rule] = fn
    return fn


def evaluate(rule: str, value: Any) -> bool:
    """Evaluate one rule against ``self = value``.

    Raises:
        CelUnsupported: The rule is outside the subset.
        CelError: Evaluation failed (wrong types, missing field without has()).
    """
    return truth(compile_rule(rule)({"self": value}))


@dataclass(frozen=True)
class CelFailure:
    """A rule that evaluated to false (or failed to evaluate)."""

    path: tuple[str | int, ...]
    rule: str
    message: str


def validate(schema: Obj, value: Any) -> tuple[list[CelFailure], int]:
    """Evaluate every ``x-kubernetes-validations`` rule that applies to ``value``.

    Args:
        schema: The CRD's ``openAPIV3Schema``.
        value: The (defaulted) object.

    Returns:
        The failures, and the number of rules skipped as unsupported.
    """
    failures: list[CelFailure] = []
    skipped = 0

    def walk(s: Any, v: Any, path: tuple[str | int, ...]) -> None:
        nonlocal skipped
        if not isinstance(s, dict) or not _mentions(s, "x-kubernetes-validations"):
            return  # no rule below here
        for r in s.get("x-kubernetes-validations") or []:
            rule = r.get("rule", "") if isinstance(r, dict) else ""
            if "oldSelf" in rule:
                continue  # transition rules compare with the stored object: none on create
            try:
                ok = evaluate(rule, v)
            except CelUnsupported:
                skipped += 1
                continue
            except ERRORS as exc:
                failures.append(
                    CelFailure(path, rule, f"rule {rule!r} could not be evaluated: {exc}")
                )
                continue
            if not ok:
                msg = r.get("message") or f"failed rule: {rule}"
                failures.append(CelFailure(path, rule, str(msg)))
        if isinstance(v, dict):
            props = s.get("properties")
            if isinstance(props, dict):
                for k, sub in props.items():
                    if k in v:
                        walk(sub, v[k], (*path, k))
            extra = s.get("additionalProperties")
            if isinstance(extra, dict):
                for k, sub_v in v.items():
                    if not isinstance(props, dict) or k not in props:
                        walk(extra, sub_v, (*path, k))
        elif isinstance(v, list) and isinstance(s.get("items"), dict):
            for i, item in enumerate(v):
                walk(s["items"], item, (*path, i))

    walk(schema, value, ())
    return failures, skipped
