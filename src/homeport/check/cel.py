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
import math
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
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?P<u>[uU]?)"
    r"|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]]))"
)


_ESCAPE = re.compile(
    r"\\(?:([\\'\"`?abfnrtv])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-3][0-7]{2}))"
)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape(body: str) -> str:
    """Decode CEL string escapes (``unicode_escape`` would mangle non-ASCII text)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return _SIMPLE.get(m.group(1), m.group(1))
        code = m.group(2) or m.group(3) or m.group(4)
        return chr(int(code, 16)) if code else chr(int(m.group(5), 8))

    out = _ESCAPE.sub(one, body)
    if "\\" in _ESCAPE.sub("", body):
        raise CelUnsupported("unknown escape in a string literal")
    return out


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
            if m.group("u"):
                raise CelUnsupported("unsigned integers")
            if n[:2] in ("0x", "0X"):
                out.append(("lit", int(n, 16)))
            else:
                out.append(("lit", float(n) if "." in n or "e" in n or "E" in n else int(n)))
        elif m.group("str") is not None:
            out.append(("lit", _unescape(m.group("str")[1:-1])))
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
            left = _logic(left, right, decides=True)
        return left

    def and_(self) -> Fn:
        left = self.rel()
        while self.peek("&&"):
            self.pos += 1
            right = self.rel()
            left = _logic(left, right, decides=False)
        return left

    def rel(self) -> Fn:
        left = self.add()
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "==": _eq,
            "!=": lambda a, b: not _eq(a, b),
            "<": lambda a, b: _order(a, b) < 0,
            "<=": lambda a, b: _order(a, b) <= 0,
            ">": lambda a, b: _order(a, b) > 0,
            ">=": lambda a, b: _order(a, b) >= 0,
        }
        while True:
            t = self.toks[self.pos]
            if t[0] == "op" and t[1] in ops:
                op = ops[t[1]]
            elif t == ("id", "in"):
                op = _in
            else:
                return left
            self.pos += 1
            right = self.add()
            left = (lambda lf, rf, o: lambda e: o(lf(e), rf(e)))(left, right, op)

    def add(self) -> Fn:
        left = self.mul()
        while self.peek("+") or self.peek("-"):
            op = self.toks[self.pos][1]
            self.pos += 1
            right = self.mul()
            f = _add if op == "+" else _sub
            left = (lambda lf, rf, g: lambda e: g(lf(e), rf(e)))(left, right, f)
        return left

    def mul(self) -> Fn:
        left = self.unary()
        while self.peek("*") or self.peek("/") or self.peek("%"):
            op = self.toks[self.pos][1]
            self.pos += 1
            right = self.unary()
            fn: Callable[[Any, Any], Any] = {"*": _mul, "/": _div, "%": _mod}[op]
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
            return lambda e: _neg(inner(e))
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
            "size": _size,
            "startsWith": lambda t, a: _strs(t, a) and t.startswith(a),
            "endsWith": lambda t, a: _strs(t, a) and t.endswith(a),
            "contains": lambda t, a: _strs(t, a) and a in t,
            "matches": lambda t, a: _strs(t, a) and _search(a, t),
            "getHours": lambda t: _duration_part(t, 3600 * 10**9),
            "getMinutes": lambda t: _duration_part(t, 60 * 10**9),
            "getSeconds": lambda t: _duration_part(t, 10**9),
            "getMilliseconds": lambda t: _duration_part(t, 10**6),
        }
        if name not in methods:
            raise CelUnsupported(f"method {name}() is not supported")
        f = methods[name]

        def call(e: Obj) -> Any:
            values = [target(e), *(a(e) for a in args)]
            try:
                return f(*values)
            except TypeError:  # wrong number of arguments: no such overload
                raise CelError(f"no matching overload for {name}()") from None

        return call

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
                return lambda e: _size(arg(e))
            if val == "duration" and self.peek("("):
                (arg,) = self.args()
                return lambda e: _parse_duration(arg(e))
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
            if not isinstance(cur, dict):
                raise CelError("has() needs a map or object")
            return names[-1] in cur

        return fn


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise CelError(f"no matching overload: expected bool, got {_type(v)}")
    return v


# Evaluation errors of any operand: CEL's error values. ``||`` and ``&&`` absorb them when
# the other operand decides the result.
_ERRORS = (CelError, TypeError, ValueError, ZeroDivisionError, OverflowError, re.error)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _logic(left: Fn, right: Fn, *, decides: bool) -> Fn:
    """``||`` (``decides=True``) or ``&&`` (``decides=False``), commutative in errors.

    CEL evaluates both sides; the value that decides the operator (true for ``||``, false
    for ``&&``) wins over an error on the other side, whichever side it is on.
    """

    def side(f: Fn, e: Obj) -> bool | BaseException:
        try:
            return _bool(f(e))
        except _ERRORS as exc:
            return exc

    def fn(e: Obj) -> bool:
        a = side(left, e)
        if a is decides:
            return decides
        b = side(right, e)
        if b is decides:
            return decides
        for v in (a, b):
            if isinstance(v, BaseException):
                raise v
        return not decides

    return fn


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v: int) -> int:
    if not _INT_MIN <= v <= _INT_MAX:
        raise CelError("integer overflow")
    return v


def _eq(a: Any, b: Any) -> bool:
    """CEL equality: numbers by value across int and double, other types only with their own."""
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    return bool(a == b)


def _order(a: Any, b: Any) -> int:
    """Compare for ``< <= > >=``: numbers, strings, booleans, durations; else an error."""
    same = (
        (_is_num(a) and _is_num(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, bool) and isinstance(b, bool))
        or (isinstance(a, _Duration) and isinstance(b, _Duration))
    )
    if not same:
        raise CelError(f"no matching overload for ordering {_type(a)} and {_type(b)}")
    return int(a > b) - int(a < b)


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return any(_eq(a, x) for x in b)
    if isinstance(b, dict):
        return any(_eq(a, k) for k in b)
    raise CelError(f"no matching overload for 'in' {_type(b)}")


def _type(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "bool", int: "int", float: "double", str: "string", list: "list"}.get(
        type(v), "map" if isinstance(v, dict) else type(v).__name__
    )


def _arith(op: str, a: Any, b: Any) -> str:
    """The kind both operands share (``int``, ``double``, ...) or an error: no mixing."""
    ta, tb = _type(a), _type(b)
    if ta != tb:
        raise CelError(f"no matching overload for {ta} {op} {tb}")
    return ta


def _add(a: Any, b: Any) -> Any:
    t = _arith("+", a, b)
    if t == "int":
        return _int(a + b)
    if t in ("double", "string", "list"):
        return a + b
    if t == "Duration":
        return _Duration(_int(a.ns + b.ns))
    raise CelError(f"no matching overload for {t} + {t}")


def _sub(a: Any, b: Any) -> Any:
    t = _arith("-", a, b)
    if t == "int":
        return _int(a - b)
    if t == "double":
        return a - b
    if t == "Duration":
        return _Duration(_int(a.ns - b.ns))
    raise CelError(f"no matching overload for {t} - {t}")


def _mul(a: Any, b: Any) -> Any:
    t = _arith("*", a, b)
    if t == "int":
        return _int(a * b)
    if t == "double":
        return a * b
    raise CelError(f"no matching overload for {t} * {t}")


def _div(a: Any, b: Any) -> Any:
    t = _arith("/", a, b)
    if t == "int":
        if b == 0:
            raise CelError("division by zero")
        q = abs(a) // abs(b)  # truncate toward zero, as Go does
        return _int(q if (a < 0) == (b < 0) else -q)
    if t == "double":
        if b == 0:
            return (
                math.nan
                if a == 0 or math.isnan(a)
                else math.copysign(math.inf, a) * (math.copysign(1.0, b))
            )
        return a / b
    raise CelError(f"no matching overload for {t} / {t}")


def _mod(a: Any, b: Any) -> Any:
    t = _arith("%", a, b)
    if t != "int":
        raise CelError(f"no matching overload for {t} % {t}")
    if b == 0:
        raise CelError("modulus by zero")
    r = abs(a) % abs(b)  # the sign of the dividend, as Go's %
    return -r if a < 0 else r


def _neg(a: Any) -> Any:
    if _is_int(a):
        return _int(-a)
    if isinstance(a, float):
        return -a
    raise CelError(f"no matching overload for -{_type(a)}")


def _size(v: Any) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise CelError(f"no matching overload for size({_type(v)})")


def _strs(*values: Any) -> bool:
    if not all(isinstance(v, str) for v in values):
        raise CelError("no matching overload: expected strings")
    return True


def _search(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


@dataclass(frozen=True, order=True)
class _Duration:
    """A CEL ``google.protobuf.Duration``, in nanoseconds."""

    ns: int


_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def _parse_duration(v: Any) -> _Duration:
    """``duration(string)``: Go's ``time.ParseDuration`` syntax (``1h30m``, ``1.5s``, ``-2ms``)."""
    if isinstance(v, _Duration):
        return v
    if not isinstance(v, str):
        raise CelError(f"no matching overload for duration({_type(v)})")
    text = v
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-") if text[:1] in "+-" else text
    if text == "0":
        return _Duration(0)
    if not text:
        raise CelError(f'invalid duration "{v}"')
    total = 0
    pos = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m or m.group(1) in ("", "."):
            raise CelError(f'invalid duration "{v}"')
        whole, _, frac = m.group(1).partition(".")
        unit = _UNIT_NS[m.group(2)]
        total += int(whole or "0") * unit
        if frac:
            total += int(frac) * unit // 10 ** len(frac)  # Go truncates the fraction too
        pos = m.end()
    return _Duration(_int(sign * total))


def _duration_part(d: Any, unit: int) -> int:
    if not isinstance(d, _Duration):
        raise CelError(f"no matching overload for {_type(d)}")
    q = abs(d.ns) // unit
    return q if d.ns >= 0 else -q


def _select(v: Any, name: str) -> Any:
    if isinstance(v, dict) and name in v:
        return v[name]
    raise CelError(f"no such key: {name}")


def _index(v: Any, i: Any) -> Any:
    if isinstance(v, list):
        if not _is_int(i) and not (isinstance(i, float) and i.is_integer()):
            raise CelError(f"no matching overload for list[{_type(i)}]")
        if not 0 <= int(i) < len(v):
            raise CelError(f"index out of range: {i}")
        return v[int(i)]
    if isinstance(v, dict):
        for k in v:
            if _eq(k, i):
                return v[k]
        raise CelError(f"no such key: {i}")
    raise CelError(f"no matching overload for {_type(v)}[{_type(i)}]")


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
            except _ERRORS as exc:
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
