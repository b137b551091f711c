"""The one YAML dumper: everything it writes reads back as the same value."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from goyaml import GoYaml, same_json
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


# Strings Go's YAML 1.1 resolver (go.yaml.in/yaml/v2) reads as numbers or booleans while
# PyYAML reads them as strings: every one must come back from Go as the same string.
GO_NUMBERISH = [
    "1e3",
    "1E3",
    "1e-3",
    "1e+3",
    "-1e3",
    "+1e3",
    "1234e56",
    "1e400",
    ".5",
    ".5e3",
    "+.5",
    "1.",
    "-1.",
    "0o17",
    "0O17",
    "-0o17",
    "0b101",
    "-0b101",
    "0x1F",
    "+0x1f",
    "08",
    "09",
    "-08",
    "1_000",
    "1__0",
    "0_1",
    "+1",
    "+0",
    "-0",
    "00",
    "9223372036854775808",
    "18446744073709551616",
    "1_0e1_0",
    "0x_1f",
    "y",
    "Y",
    "n",
    "N",
    "1.2.3",
    "v1e3",
]
numberish = st.one_of(
    st.sampled_from(GO_NUMBERISH),
    st.from_regex(
        r"[-+]?[0-9._]{0,4}(0[xXoObB])?[0-9a-fA-F_.]{0,4}([eE][-+]?[0-9]{0,3})?", fullmatch=True
    ),
)
go_scalars = st.one_of(scalars, numberish)
go_values = st.recursive(
    go_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), numberish), children, max_size=4),
    ),
    max_leaves=30,
)


def test_go_reads_numberish_strings_as_strings(goyaml: GoYaml) -> None:
    """Real: sigs.k8s.io/yaml (tools/goyaml) decodes what yamlio writes; nothing is faked.

    Negative control: the same words written plain decode to non-strings in Go, so the
    oracle does see the difference it is asked about.
    """
    doc = {word: word for word in GO_NUMBERISH}
    [decoded] = goyaml.decode(yamlio.dump(doc))
    assert same_json(decoded, doc)
    plain = "".join(f"k{i}: {w}\n" for i, w in enumerate(["1e3", "0o17", "08", "1234e56", "y"]))
    [control] = goyaml.decode(plain)
    assert not any(isinstance(v, str) for v in control.values()), control


@settings(max_examples=600, deadline=None)
@given(go_values)
def test_go_decodes_dump_to_the_same_json(goyaml: GoYaml, value: Any) -> None:
    """Real: Go's decoder is the oracle for every generated value (Hypothesis)."""
    decoded = goyaml.decode(yamlio.dump(value))
    expected = [] if value is None else [value]
    assert same_json(decoded, expected), (yamlio.dump(value), decoded)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.text(max_size=8), go_scalars, min_size=1, max_size=3),
        min_size=1,
        max_size=4,
    )
)
def test_go_decodes_dump_all(goyaml: GoYaml, docs: list[dict[str, Any]]) -> None:
    """Real: a multi-document stream splits and decodes in Go as homeport wrote it."""
    assert same_json(goyaml.decode(yamlio.dump_all(docs)), docs)
