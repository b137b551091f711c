"""``homeport seal`` and ``homeport unseal``: Sealed Secrets without a cluster."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from homeport import sealing, secretstore, yamlio
from homeport.cli import _common
from homeport.errors import SealError, UsageError

ScopeOpt = Annotated[
    str,
    typer.Option(
        "--scope",
        help="strict: only this name and namespace; namespace-wide: any name in the namespace; "
        "cluster-wide: anywhere.",
    ),
]
TypeOpt = Annotated[str, typer.Option("--type", help="Secret type, e.g. kubernetes.io/basic-auth.")]
LiteralOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--from-literal", help="KEY=VALUE (repeatable). Beware: values land in shell history."
    ),
]
FileOpt = Annotated[
    list[str] | None,
    typer.Option("--from-file", help="KEY=PATH or PATH (key = file name), repeatable."),
]


def check_scope(scope: str) -> sealing.Scope:
    """Validate a ``--scope`` value.

    Args:
        scope: The value given.

    Returns:
        The scope.

    Raises:
        UsageError: Not one of the three scopes.
    """
    for s in sealing.SCOPES:
        if s == scope:
            return s
    raise UsageError(f'--scope: "{scope}" is not one of {", ".join(sealing.SCOPES)}')


def seal_cmd(
    name: Annotated[str, typer.Option("--name", help="Name of the Secret.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Its namespace.")],
    from_literal: LiteralOpt = None,
    from_file: FileOpt = None,
    scope: ScopeOpt = "strict",
    secret_type: TypeOpt = "Opaque",
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="Controller certificate (PEM). Default: homeport's own pair."),
    ] = None,
) -> None:
    """Seal values into a SealedSecret and print it (sealed-secrets v0.36 format)."""
    secretstore.check_name(name, "--name")
    secretstore.check_namespace(namespace, "--namespace")
    sc = check_scope(scope)
    data = secretstore.parse_data(from_literal or [], from_file or [])
    certificate = secretstore.resolve_cert(cert)
    sealed = sealing.seal_secret(
        certificate, name, namespace, data, scope=sc, secret_type=secret_type
    )
    sys.stdout.write(yamlio.dump(sealed))


def _read_input(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file}: not a text file") from None


def to_secret(sealed: dict[str, Any], values: dict[str, bytes]) -> dict[str, Any]:
    """Build the ``v1`` Secret the controller would create from a SealedSecret.

    Args:
        sealed: The SealedSecret.
        values: Its opened values.

    Returns:
        The Secret, with ``data`` base64-encoded as Kubernetes stores it.
    """
    md = sealed.get("metadata") or {}
    template = (sealed.get("spec") or {}).get("template") or {}
    tmd = template.get("metadata") or {}
    meta: dict[str, Any] = {"name": md.get("name", ""), "namespace": md.get("namespace", "")}
    for field in ("labels", "annotations"):
        if tmd.get(field):
            meta[field] = dict(tmd[field])
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": template.get("type", "Opaque"),
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(values.items())},
    }


def unseal_cmd(
    file: Annotated[str, typer.Argument(help="SealedSecret YAML file, or - for stdin.")],
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="Private key (PEM). Default: homeport's own, in $HOMEPORT_HOME."
        ),
    ] = None,
    show: Annotated[
        bool,
        typer.Option("--show", help="Print the plaintext Secret on stdout (recovery only)."),
    ] = False,
) -> None:
    """Open a SealedSecret with a private key (disaster recovery).

    Without --show only the keys are listed, so nothing secret reaches the terminal.
    """
    key_path = key or sealing.home_dir() / sealing.KEY_FILE
    private = sealing.load_private_key(key_path)
    text = _read_input(file)
    try:
        docs = [d for d in yamlio.load_all(text) if isinstance(d, dict)]
    except Exception:  # PyYAML raises several types; keep it one line
        raise UsageError(f"{file}: not valid YAML") from None
    sealed_docs = [d for d in docs if d.get("kind") == "SealedSecret"]
    if not sealed_docs:
        raise UsageError(f"{file}: no SealedSecret in it")
    opened = []
    for doc in sealed_docs:
        try:
            opened.append((doc, sealing.unseal(doc, [private])))
        except SealError as exc:
            md = doc.get("metadata") or {}
            raise SealError(
                f"{file}: {md.get('namespace', '')}/{md.get('name', '')}: {exc}"
            ) from None
    if show:
        _common.err_console.print(
            "warning: printing plaintext secret values; do not commit or share this output",
            markup=False,
        )
        sys.stdout.write(yamlio.dump_all(to_secret(doc, values) for doc, values in opened))
        return
    for doc, values in opened:
        md = doc.get("metadata") or {}
        keys = ", ".join(f"{k} ({len(v)} bytes)" for k, v in sorted(values.items()))
        typer.echo(f"{md.get('namespace', '')}/{md.get('name', '')}: opened; keys: {keys}")
    _common.err_console.print("use --show to print the values", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``seal`` and ``unseal`` to the CLI."""
    app.command("seal")(seal_cmd)
    app.command("unseal")(unseal_cmd)
