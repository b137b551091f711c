"""The committed JSON Schema matches the models and accepts every example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from homeport import yamlio
from homeport.cli.schema import schema_text

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "schema" / "homeport.schema.json"


def test_committed_schema_has_not_drifted() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "schema/homeport.schema.json is stale: run `homeport schema > schema/homeport.schema.json`"
    )


def test_schema_is_draft07_and_valid() -> None:
    schema = json.loads(schema_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert "$defs" not in json.dumps(schema)


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_examples_validate_against_the_schema(example: Path) -> None:
    schema = json.loads(schema_text())
    jsonschema.Draft7Validator(schema).validate(yamlio.load(example.read_text()))


def test_schema_rejects_unknown_keys() -> None:
    schema = json.loads(schema_text())
    doc = {"domain": "a.com", "email": "a@a.com", "git": {"url": "https://x/y.git"}, "bogus": 1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(doc)


def test_every_field_is_documented() -> None:
    schema = json.loads(schema_text())
    missing = []
    for name, d in schema["definitions"].items():
        for prop, spec in d.get("properties", {}).items():
            if "description" not in spec and "$ref" not in spec and "allOf" not in spec:
                missing.append(f"{name}.{prop}")
    assert missing == []
