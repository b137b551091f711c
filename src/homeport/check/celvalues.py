"""CEL values at run time: truth, equality, ordering, 64-bit arithmetic, durations, lookup.

What :mod:`homeport.check.celparse` compiles calls these; each follows cel-go (see
:mod:`homeport.check.cel` for the semantics and how they are proven).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Fn = Callable[[Obj], Any]


class CelUnsupported(Exception):
    """The expression uses CEL beyond the supported subset."""


class CelError(Exception):
    """Evaluating the expression failed (CEL would report an evaluation error)."""


def truth(v: Any) -> bool:
    """``v`` as a condition: only a bool is one."""
    if not isinstance(v, bool):
        raise CelError(f"no matching overload: expected bool, got {type_name(v)}")
    return v


# Evaluation errors of any operand: CEL's error values. ``||`` and ``&&`` absorb them when
# the other operand decides the result.
ERRORS = (CelError, TypeError, ValueError, ZeroDivisionError, OverflowError, re.error)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def logic(left: Fn, right: Fn, *, decides: bool) -> Fn:
    """``||`` (``decides=True``) or ``&&`` (``decides=False``), commutative in errors.

    CEL evaluates both sides; the value that decides the operator (true for ``||``, false
    for ``&&``) wins over an error on the other side, whichever side it is on.
    """

    def side(f: Fn, e: Obj) -> bool | BaseException:
        try:
            return truth(f(e))
        except ERRORS as exc:
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


def is_int(v: Any) -> bool:
    """Whether ``v`` is a CEL int (a Python int that is not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    """Whether ``v`` is a CEL int or double."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def checked_int(v: int) -> int:
    """``v`` when it fits in 64 bits; overflow is an error."""
    if not _INT_MIN <= v <= _INT_MAX:
        raise CelError("integer overflow")
    return v


def eq(a: Any, b: Any) -> bool:
    """CEL equality: numbers by value across int and double, other types only with their own."""
    if is_num(a) and is_num(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)
    return bool(a == b)


def order(a: Any, b: Any) -> int:
    """Compare for ``< <= > >=``: numbers, strings, booleans, durations; else an error."""
    same = (
        (is_num(a) and is_num(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, bool) and isinstance(b, bool))
        or (isinstance(a, Duration) and isinstance(b, Duration))
    )
    if not same:
        raise CelError(f"no matching overload for ordering {type_name(a)} and {type_name(b)}")
    return int(a > b) - int(a < b)


def contains(a: Any, b: Any) -> bool:
    """``a in b`` for a list or a map."""
    if isinstance(b, list):
        return any(eq(a, x) for x in b)
    if isinstance(b, dict):
        return any(eq(a, k) for k in b)
    raise CelError(f"no matching overload for 'in' {type_name(b)}")


def type_name(v: Any) -> str:
    """CEL's name of ``v``'s type, for error messages."""
    if v is None:
        return "null"
    return {bool: "bool", int: "int", float: "double", str: "string", list: "list"}.get(
        type(v), "map" if isinstance(v, dict) else type(v).__name__
    )


def arith_error(op: str, a: Any, b: Any) -> str:
    """The kind both operands share (``int``, ``double``, ...) or an error: no mixing."""
    ta, tb = type_name(a), type_name(b)
    if ta != tb:
        raise CelError(f"no matching overload for {ta} {op} {tb}")
    return ta


def add(a: Any, b: Any) -> Any:
    """``a + b``: numbers of one type, strings, lists, durations."""
    t = arith_error("+", a, b)
    if t == "int":
        return checked_int(a + b)
    if t in ("double", "string", "list"):
        return a + b
    if t == "Duration":
        return Duration(checked_int(a.ns + b.ns))
    raise CelError(f"no matching overload for {t} + {t}")


def sub(a: Any, b: Any) -> Any:
    """``a - b``: numbers of one type or durations."""
    t = arith_error("-", a, b)
    if t == "int":
        return checked_int(a - b)
    if t == "double":
        return a - b
    if t == "Duration":
        return Duration(checked_int(a.ns - b.ns))
    raise CelError(f"no matching overload for {t} - {t}")


def mul(a: Any, b: Any) -> Any:
    """``a * b``: numbers of one type."""
    t = arith_error("*", a, b)
    if t == "int":
        return checked_int(a * b)
    if t == "double":
        return a * b
    raise CelError(f"no matching overload for {t} * {t}")


def div(a: Any, b: Any) -> Any:
    """``a / b``: ints truncate toward zero; dividing by zero is an error."""
    t = arith_error("/", a, b)
    if t == "int":
        if b == 0:
            raise CelError("division by zero")
        q = abs(a) // abs(b)  # truncate toward zero, as Go does
        return checked_int(q if (a < 0) == (b < 0) else -q)
    if t == "double":
        if b == 0:
            return (
                math.nan
                if a == 0 or math.isnan(a)
                else math.copysign(math.inf, a) * (math.copysign(1.0, b))
            )
        return a / b
    raise CelError(f"no matching overload for {t} / {t}")


def mod(a: Any, b: Any) -> Any:
    """``a % b`` of ints, with the sign of ``a``."""
    t = arith_error("%", a, b)
    if t != "int":
        raise CelError(f"no matching overload for {t} % {t}")
    if b == 0:
        raise CelError("modulus by zero")
    r = abs(a) % abs(b)  # the sign of the dividend, as Go's %
    return -r if a < 0 else r


def neg(a: Any) -> Any:
    """``-a``."""
    if is_int(a):
        return checked_int(-a)
    if isinstance(a, float):
        return -a
    raise CelError(f"no matching overload for -{type_name(a)}")


def size(v: Any) -> int:
    """``size(v)`` of a string (code points), list or map."""
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise CelError(f"no matching overload for size({type_name(v)})")


def strings(*values: Any) -> bool:
    """Whether every value is a string."""
    if not all(isinstance(v, str) for v in values):
        raise CelError("no matching overload: expected strings")
    return True


def search(pattern: str, text: str) -> bool:
    """``text.matches(pattern)``: Python's ``re.search`` (a match anywhere in the text)."""
    return re.search(pattern, text) is not None


@dataclass(frozen=True, order=True)
class Duration:
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


def parse_duration(v: Any) -> Duration:
    """``duration(string)``: Go's ``time.ParseDuration`` syntax (``1h30m``, ``1.5s``, ``-2ms``)."""
    if isinstance(v, Duration):
        return v
    if not isinstance(v, str):
        raise CelError(f"no matching overload for duration({type_name(v)})")
    text = v
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-") if text[:1] in "+-" else text
    if text == "0":
        return Duration(0)
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
    return Duration(checked_int(sign * total))


def duration_part(d: Any, unit: int) -> int:
    """A duration in whole ``unit``s (``getHours()`` and friends)."""
    if not isinstance(d, Duration):
        raise CelError(f"no matching overload for {type_name(d)}")
    q = abs(d.ns) // unit
    return q if d.ns >= 0 else -q


def select(v: Any, name: str) -> Any:
    """``v.name`` of a map; a missing key is an error."""
    if isinstance(v, dict) and name in v:
        return v[name]
    raise CelError(f"no such key: {name}")


def index(v: Any, i: Any) -> Any:
    """``v[i]`` of a list or a map."""
    if isinstance(v, list):
        if not is_int(i) and not (isinstance(i, float) and i.is_integer()):
            raise CelError(f"no matching overload for list[{type_name(i)}]")
        if not 0 <= int(i) < len(v):
            raise CelError(f"index out of range: {i}")
        return v[int(i)]
    if isinstance(v, dict):
        for k in v:
            if eq(k, i):
                return v[k]
        raise CelError(f"no such key: {i}")
    raise CelError(f"no matching overload for {type_name(v)}[{type_name(i)}]")
