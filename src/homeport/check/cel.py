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
  ``&&``, ``||`` and ``c ? a : b``.

Rules outside the subset, and transition rules (those that use ``oldSelf``, which
cannot fail on create), are skipped; :func:`validate` reports how many were skipped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


class CelUnsupported(Exception):
    """The expression uses CEL beyond the supported subset."""


class CelError(Exception):
    """Evaluating the expression failed (CEL would report an evaluation error)."""


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


# -- tokenizer ----------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d+|\d+)[uU]?|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]]))"
)


def _tokens(src: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise CelUnsupported(f"cannot read CEL at {src[pos : pos + 10]!r}")
        pos = m.end()
        if m.group("num") is not None:
            n = m.group("num")
            out.append(("lit", float(n) if "." in n else int(n)))
        elif m.group("str") is not None:
            s = m.group("str")[1:-1]
            out.append(("lit", bytes(s, "utf-8").decode("unicode_escape")))
        elif m.group("id") is not None:
            ident = m.group("id")
            lits = {"true": True, "false": False, "null": None}
            out.append(("lit", lits[ident]) if ident in lits else ("id", ident))
        else:
            out.append(("op", m.group("op")))
    out.append(("end", None))
    return out


# -- parser: builds closures env -> value -------------------------------------------------
Fn = Callable[[Obj], Any]
_MISSING = object()


@dataclass
class _Parser:
    toks: list[tuple[str, Any]]
    pos: int = 0

    def peek(self, value: str) -> bool:
        t = self.toks[self.pos]
        return t[0] == "op" and t[1] == value

    def take(self, value: str) -> None:
        if not self.peek(value):
            raise CelUnsupported(f"expected {value!r}")
        self.pos += 1

    def expr(self) -> Fn:
        cond = self.or_()
        if self.peek("?"):
            self.pos += 1
            a = self.expr()
            self.take(":")
            b = self.expr()
            return lambda e: a(e) if _bool(cond(e)) else b(e)
        return cond

    def or_(self) -> Fn:
        left = self.and_()
        while self.peek("||"):
            self.pos += 1
            right = self.and_()
            left = (lambda lf, rf: lambda e: _bool(lf(e)) or _bool(rf(e)))(left, right)
        return left

    def and_(self) -> Fn:
        left = self.rel()
        while self.peek("&&"):
            self.pos += 1
            right = self.rel()
            left = (lambda lf, rf: lambda e: _bool(lf(e)) and _bool(rf(e)))(left, right)
        return left

    def rel(self) -> Fn:
        left = self.add()
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "==": lambda a, b: bool(a == b),
            "!=": lambda a, b: bool(a != b),
            "<": lambda a, b: bool(a < b),
            "<=": lambda a, b: bool(a <= b),
            ">": lambda a, b: bool(a > b),
            ">=": lambda a, b: bool(a >= b),
        }
        while True:
            t = self.toks[self.pos]
            if t[0] == "op" and t[1] in ops:
                op = ops[t[1]]
            elif t == ("id", "in"):
                op = lambda a, b: a in b  # noqa: E731
            else:
                return left
            self.pos += 1
            right = self.add()
            left = (lambda lf, rf, o: lambda e: _cmp(o, lf(e), rf(e)))(left, right, op)

    def add(self) -> Fn:
        left = self.mul()
        while self.peek("+") or self.peek("-"):
            op = self.toks[self.pos][1]
            self.pos += 1
            right = self.mul()
            if op == "+":
                left = (lambda lf, rf: lambda e: lf(e) + rf(e))(left, right)
            else:
                left = (lambda lf, rf: lambda e: lf(e) - rf(e))(left, right)
        return left

    def mul(self) -> Fn:
        left = self.unary()
        while self.peek("*") or self.peek("/") or self.peek("%"):
            op = self.toks[self.pos][1]
            self.pos += 1
            right = self.unary()
            fn: Callable[[Any, Any], Any] = {
                "*": lambda a, b: a * b,
                "/": lambda a, b: a // b if isinstance(a, int) else a / b,
                "%": lambda a, b: a % b,
            }[op]
            left = (lambda lf, rf, f: lambda e: f(lf(e), rf(e)))(left, right, fn)
        return left

    def unary(self) -> Fn:
        if self.peek("!"):
            self.pos += 1
            inner = self.unary()
            return lambda e: not _bool(inner(e))
        if self.peek("-"):
            self.pos += 1
            inner = self.unary()
            return lambda e: -inner(e)
        return self.postfix()

    def postfix(self) -> Fn:
        node = self.primary()
        while True:
            if self.peek("."):
                self.pos += 1
                kind, name = self.toks[self.pos]
                if kind != "id":
                    raise CelUnsupported("expected a field name")
                self.pos += 1
                if self.peek("("):
                    node = self.method(node, name)
                else:
                    node = (lambda nf, n: lambda e: _select(nf(e), n))(node, name)
            elif self.peek("["):
                self.pos += 1
                idx = self.expr()
                self.take("]")
                node = (lambda nf, i: lambda e: _index(nf(e), i(e)))(node, idx)
            else:
                return node

    def args(self) -> list[Fn]:
        self.take("(")
        out: list[Fn] = []
        while not self.peek(")"):
            out.append(self.expr())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        return out

    def method(self, target: Fn, name: str) -> Fn:
        args = self.args()
        methods: dict[str, Callable[..., Any]] = {
            "size": lambda t: len(t),
            "startsWith": lambda t, a: t.startswith(a),
            "endsWith": lambda t, a: t.endswith(a),
            "contains": lambda t, a: a in t,
            "matches": lambda t, a: re.search(a, t) is not None,
        }
        if name not in methods:
            raise CelUnsupported(f"method {name}() is not supported")
        f = methods[name]
        return lambda e: f(target(e), *(a(e) for a in args))

    def primary(self) -> Fn:
        kind, val = self.toks[self.pos]
        if kind == "lit":
            self.pos += 1
            return lambda e: val
        if kind == "op" and val == "(":
            self.pos += 1
            inner = self.expr()
            self.take(")")
            return inner
        if kind == "op" and val == "[":
            self.pos += 1
            items: list[Fn] = []
            while not self.peek("]"):
                items.append(self.expr())
                if not self.peek("]"):
                    self.take(",")
            self.take("]")
            return lambda e: [i(e) for i in items]
        if kind == "id":
            self.pos += 1
            if val == "has":
                self.take("(")
                target = self.postfix_path()
                self.take(")")
                return target
            if val == "size" and self.peek("("):
                (arg,) = self.args()
                return lambda e: len(arg(e))
            if val in ("self", "oldSelf"):
                if val == "oldSelf":
                    raise CelUnsupported("transition rule (oldSelf)")
                return lambda e: e["self"]
            raise CelUnsupported(f"identifier {val!r} is not supported")
        raise CelUnsupported(f"unexpected {val!r}")

    def postfix_path(self) -> Fn:
        # has(a.b.c): true when the last field is present.
        base = self.primary()
        names: list[str] = []
        while self.peek("."):
            self.pos += 1
            kind, name = self.toks[self.pos]
            if kind != "id":
                raise CelUnsupported("has() needs a field selection")
            self.pos += 1
            names.append(name)
        if not names:
            raise CelUnsupported("has() needs a field selection")

        def fn(e: Obj) -> bool:
            cur = base(e)
            for n in names[:-1]:
                cur = _select(cur, n)
            return isinstance(cur, dict) and names[-1] in cur

        return fn


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise CelError(f"expected a boolean, got {type(v).__name__}")
    return v


def _cmp(op: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    try:
        return op(a, b)
    except TypeError as exc:
        raise CelError(str(exc)) from None


def _select(v: Any, name: str) -> Any:
    if isinstance(v, dict) and name in v:
        return v[name]
    raise CelError(f"no such key: {name}")


def _index(v: Any, i: Any) -> Any:
    try:
        return v[i]
    except (KeyError, IndexError, TypeError):
        raise CelError(f"no such key: {i}") from None


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
        p = _Parser(_tokens(rule))
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
    return _bool(compile_rule(rule)({"self": value}))


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
            except (CelError, TypeError, ValueError, re.error) as exc:
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
