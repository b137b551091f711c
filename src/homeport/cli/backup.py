"""``homeport backup``: the cluster state Git does not hold, in one age-encrypted archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli._common import out_console
from homeport.cli.bootstrap import ContextOpt, KubeconfigOpt
from homeport.cluster.backup import (
    Key,
    backup,
    parse_recipients,
    prune_archives,
    read_recipients,
)
from homeport.cluster.kube import connect
from homeport.errors import UsageError

PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File holding the passphrase (first line). Without a key option: prompt.",
        envvar="HOMEPORT_BACKUP_PASSPHRASE_FILE",
    ),
]


def read_passphrase(path: Path | None, confirm: bool) -> str:
    """The passphrase from a file (first line), else a hidden prompt."""
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read passphrase: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise UsageError(f"{path}: empty passphrase")
        return lines[0]
    value = str(typer.prompt("backup passphrase", hide_input=True, confirmation_prompt=confirm))
    if not value:
        raise UsageError("empty passphrase")
    return value


def backup_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Archive to write (mode 0600).")],
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    recipient: Annotated[
        list[str] | None, typer.Option("--recipient", "-r", help="age public key (age1...).")
    ] = None,
    recipient_file: Annotated[
        Path | None, typer.Option("--recipient-file", help="File of age public keys.")
    ] = None,
    passphrase_file: PassphraseFileOpt = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            help="Then delete older archives named like --out (which needs {timestamp}), "
            "keeping the newest N.",
        ),
    ] = None,
) -> None:
    """Back up secrets, certificates, the sealing key and Argo CD's state, encrypted with age."""
    if keep is not None and (keep < 1 or "{timestamp}" not in out.name):
        raise UsageError(
            f"--keep: {keep} must be at least 1"
            if keep < 1
            else "--keep needs {timestamp} in the --out file name"
        )
    recips = tuple(recipient or ()) + (read_recipients(recipient_file) if recipient_file else ())
    key = (
        Key(recipients=recips) if recips else Key(passphrase=read_passphrase(passphrase_file, True))
    )
    parse_recipients(key)  # a typo in a key fails before the cluster is read
    with connect(kubeconfig, context) as kube:
        result = backup(kube, out, key)
    m = result.manifest
    kinds = ", ".join(f"{n} {k}" for k, n in m["counts"].items())
    out_console.print(
        f"wrote {result.path} ({result.size} bytes): {m['total']} objects ({kinds})", markup=False
    )
    if keep is not None:
        for old in prune_archives(out, keep):
            out_console.print(f"deleted {old} (keeping the newest {keep})", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``backup`` command."""
    app.command("backup")(backup_cmd)
