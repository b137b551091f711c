"""CEL semantics of ``check/cel.py`` as cel-go (the API server's CEL) defines them.

Pure unit tests of the evaluator; tests/cluster/test_cel_oracle.py proves the same against a
real kube-apiserver for every rule of the pinned CRDs.
"""

from __future__ import annotations

from typing import Any

import pytest

from homeport.check.cel import CelError, CelUnsupported, evaluate, validate


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        # || and && absorb an error on either side when the other side decides.
        ("self.a.b == 'x' || !has(self.a)", {}, True),
        ("!has(self.a) || self.a.b == 'x'", {}, True),
        ("self.a.b == 'x' && has(self.a)", {}, False),
        ("has(self.a) && self.a.b == 'x'", {}, False),
        ("self.n / 0 == 1 || true", {"n": 1}, True),
        # Integer division and remainder truncate toward zero (Go), not floor (Python).
        ("-7 / 2 == -3", None, True),
        ("-7 % 2 == -1", None, True),
        ("7 % -2 == 1", None, True),
        ("self / 2 == -1", -3, True),
        # Equality across types is false, not an error; numbers compare by value.
        ("self == true", 1, False),
        ("self == 1", True, False),
        ("1 == 1.0", None, True),
        ("self in [1, 2]", True, False),
        # duration() (MetalLB's BGPPeer connectTime) with Go's duration syntax.
        ("duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535", "1.5s", True),
        ("duration(self).getMilliseconds() % 1000 == 0", "1500ms", False),
        ("duration(self).getMilliseconds() % 1000 == 0", "1m", True),
        ("duration(self).getSeconds() == 5400", "1h30m", True),
        # String literals keep non-ASCII text (unicode_escape used to mangle it).
        ("self == 'é'", "é", True),
        ("self.size() == 1", "é", True),
    ],
)
def test_cel_semantics(rule: str, value: Any, expected: bool) -> None:
    assert evaluate(rule, value) is expected


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("self.a.b == 'x' || has(self.a)", {}),  # both sides false or error: error
        ("self.a.b == 'x' && true", {}),
        ("1 / self == 0", 0),
        ("1 % self == 0", 0),
        ("self + 1 > 0", 2**63 - 1),  # int64 overflow
        ("self < 1", True),  # no ordering between bool and int
        ("self + 1 == 2", 1.0),  # no mixed int/double arithmetic
        ("!self", 1),
        ("self.size() > 0", 3),
        ("duration(self).getSeconds() > 0", "5 seconds"),
    ],
)
def test_cel_errors(rule: str, value: Any) -> None:
    with pytest.raises(CelError):
        evaluate(rule, value)


def test_evaluation_errors_are_failures_not_crashes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "x-kubernetes-validations": [{"rule": "10 / self > 1"}]}
        },
    }
    failures, skipped = validate(schema, {"n": 0})
    assert skipped == 0 and len(failures) == 1 and "could not be evaluated" in failures[0].message
    assert validate(schema, {"n": 2}) == ([], 0)  # negative control


def test_unsupported_stays_unsupported() -> None:
    with pytest.raises(CelUnsupported):
        evaluate("self.all(x, x > 0)", [1])
