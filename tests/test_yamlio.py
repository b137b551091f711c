"""The one YAML dumper: everything it writes reads back as the same value."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from homeport import yamlio

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "off",
            "~",
            "null",
            "1.36",
            "0x1F",
            "1e3",
            "-",
            "- a",
            "a: b",
            "#c",
            "*",
            "&a",
            "!t",
            "%x",
            "@x",
            "`x`",
            "'q'",
            '"q"',
            "a\nb",
            "a\n",
            " lead",
            "trail ",
            "\t",
            "2026-11-25",
            "12:30",
            ".inf",
            "=",
            "<<",
            "?",
            "|",
            ">",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_dump_round_trips(value: Any) -> None:
    assert yaml.safe_load(yamlio.dump(value)) == value


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.text(max_size=8), scalars, min_size=1, max_size=3),
        min_size=1,
        max_size=4,
    )
)
def test_dump_all_round_trips(docs: list[dict[str, Any]]) -> None:
    assert list(yamlio.load_all(yamlio.dump_all(docs))) == docs


def test_go_yaml_booleans_are_quoted() -> None:
    for word in ("y", "Y", "n", "N", "yes", "off", "true", "null", "~"):
        assert yamlio.dump({"name": word}) == f'name: "{word}"\n'


def test_kubernetes_order_first() -> None:
    text = yamlio.dump({"spec": {}, "metadata": {"name": "a"}, "kind": "K", "apiVersion": "v1"})
    assert text.splitlines()[:3] == ["apiVersion: v1", "kind: K", "metadata:"]


def test_located_lines_and_duplicate_keys() -> None:
    doc = yamlio.load_located("a: 1\nb:\n  - x: 2\n  - y: 3\n")
    assert doc.line_of(("b", 1, "y")) == 4
    assert doc.line_of(("b", 1, "missing")) == 4
    try:
        yamlio.load_located("a: 1\na: 2\n")
    except yamlio.YamlSyntaxError as exc:
        assert exc.line == 2 and "duplicate key" in str(exc)
    else:
        raise AssertionError("duplicate key accepted")
