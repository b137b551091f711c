"""Tokenize and parse the supported CEL subset into closures ``env -> value``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeport.check.celvalues import (
    CelError,
    CelUnsupported,
    Fn,
    Obj,
    add,
    contains,
    div,
    duration_part,
    eq,
    index,
    logic,
    mod,
    mul,
    neg,
    order,
    parse_duration,
    search,
    select,
    size,
    strings,
    sub,
    truth,
)

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


def tokens(src: str) -> list[tuple[str, Any]]:
    """Split an expression into (kind, value) tokens, ending with ("end", None)."""
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


@dataclass
class Parser:
    """Recursive-descent parser; each method returns a closure over the env."""

    toks: list[tuple[str, Any]]
    pos: int = 0

    def peek(self, value: str) -> bool:
        """Whether the next token is the operator ``value``."""
        t = self.toks[self.pos]
        return t[0] == "op" and t[1] == value

    def take(self, value: str) -> None:
        """Consume the operator ``value`` or reject the expression."""
        if not self.peek(value):
            raise CelUnsupported(f"expected {value!r}")
        self.pos += 1

    def expr(self) -> Fn:
        """``c ? a : b`` (or the next level)."""
        cond = self.or_()
        if self.peek("?"):
            self.pos += 1
            a = self.expr()
            self.take(":")
            b = self.expr()
            return lambda e: a(e) if truth(cond(e)) else b(e)
        return cond

    def or_(self) -> Fn:
        """``a || b``."""
        left = self.and_()
        while self.peek("||"):
            self.pos += 1
            right = self.and_()
            left = logic(left, right, decides=True)
        return left

    def and_(self) -> Fn:
        """``a && b``."""
        left = self.rel()
        while self.peek("&&"):
            self.pos += 1
            right = self.rel()
            left = logic(left, right, decides=False)
        return left

    def rel(self) -> Fn:
        """Comparisons and ``in``."""
        left = self.add()
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "==": eq,
            "!=": lambda a, b: not eq(a, b),
            "<": lambda a, b: order(a, b) < 0,
            "<=": lambda a, b: order(a, b) <= 0,
            ">": lambda a, b: order(a, b) > 0,
            ">=": lambda a, b: order(a, b) >= 0,
        }
        while True:
            t = self.toks[self.pos]
            if t[0] == "op" and t[1] in ops:
                op = ops[t[1]]
            elif t == ("id", "in"):
                op = contains
            else:
                return left
            self.pos += 1
            right = self.add()
            left = (lambda lf, rf, o: lambda e: o(lf(e), rf(e)))(left, right, op)

    def add(self) -> Fn:
        """``a + b`` and ``a - b``."""
        left = self.mul()
        while self.peek("+") or self.peek("-"):
            op = self.toks[self.pos][1]
            self.pos += 1
            right = self.mul()
            f = add if op == "+" else sub
            left = (lambda lf, rf, g: lambda e: g(lf(e), rf(e)))(left, right, f)
        return left

    def mul(self) -> Fn:
        """``a * b``, ``a / b`` and ``a % b``."""
        left = self.unary()
        while self.peek("*") or self.peek("/") or self.peek("%"):
            op = self.toks[self.pos][1]
            self.pos += 1
            right = self.unary()
            fn: Callable[[Any, Any], Any] = {"*": mul, "/": div, "%": mod}[op]
            left = (lambda lf, rf, f: lambda e: f(lf(e), rf(e)))(left, right, fn)
        return left

    def unary(self) -> Fn:
        """``!a`` and ``-a``."""
        if self.peek("!"):
            self.pos += 1
            inner = self.unary()
            return lambda e: not truth(inner(e))
        if self.peek("-"):
            self.pos += 1
            inner = self.unary()
            return lambda e: neg(inner(e))
        return self.postfix()

    def postfix(self) -> Fn:
        """Field selection, indexing and method calls after a primary."""
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
                    node = (lambda nf, n: lambda e: select(nf(e), n))(node, name)
            elif self.peek("["):
                self.pos += 1
                idx = self.expr()
                self.take("]")
                node = (lambda nf, i: lambda e: index(nf(e), i(e)))(node, idx)
            else:
                return node

    def args(self) -> list[Fn]:
        """A parenthesized, comma-separated argument list."""
        self.take("(")
        out: list[Fn] = []
        while not self.peek(")"):
            out.append(self.expr())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        return out

    def method(self, target: Fn, name: str) -> Fn:
        """A method call ``target.name(args)`` of the subset."""
        args = self.args()
        methods: dict[str, Callable[..., Any]] = {
            "size": size,
            "startsWith": lambda t, a: strings(t, a) and t.startswith(a),
            "endsWith": lambda t, a: strings(t, a) and t.endswith(a),
            "contains": lambda t, a: strings(t, a) and a in t,
            "matches": lambda t, a: strings(t, a) and search(a, t),
            "getHours": lambda t: duration_part(t, 3600 * 10**9),
            "getMinutes": lambda t: duration_part(t, 60 * 10**9),
            "getSeconds": lambda t: duration_part(t, 10**9),
            "getMilliseconds": lambda t: duration_part(t, 10**6),
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
        """Literals, ``self``, lists, parentheses and global functions."""
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
                return lambda e: size(arg(e))
            if val == "duration" and self.peek("("):
                (arg,) = self.args()
                return lambda e: parse_duration(arg(e))
            if val in ("self", "oldSelf"):
                if val == "oldSelf":
                    raise CelUnsupported("transition rule (oldSelf)")
                return lambda e: e["self"]
            raise CelUnsupported(f"identifier {val!r} is not supported")
        raise CelUnsupported(f"unexpected {val!r}")

    def postfix_path(self) -> Fn:
        """The field path inside ``has()``."""
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
                cur = select(cur, n)
            if not isinstance(cur, dict):
                raise CelError("has() needs a map or object")
            return names[-1] in cur

        return fn
