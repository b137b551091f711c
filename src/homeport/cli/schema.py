"""``homeport schema``: print the JSON Schema of homeport.yaml."""

from __future__ import annotations

import json

import typer

from homeport.config import json_schema


def schema_text() -> str:
    """The schema as the exact text committed at schema/homeport.schema.json."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def schema() -> None:
    """Print the JSON Schema (draft-07) of homeport.yaml, for editors and yaml-language-server."""
    typer.echo(schema_text(), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``schema`` command."""
    app.command("schema")(schema)
