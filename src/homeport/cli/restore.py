"""``homeport restore``: a backup into a new cluster, in dependency order, deleting nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.cli._common import out_console
from homeport.cli.backup import PassphraseFileOpt, read_passphrase
from homeport.cli.bootstrap import ArgoManifestOpt, ContextOpt, DryRunOpt, KubeconfigOpt
from homeport.cluster.backup import Key, open_archive, read_identities, restore
from homeport.cluster.kube import connect
from homeport.errors import UsageError


def restore_cmd(
    archive: Annotated[Path, typer.Argument(help="Backup archive written by `homeport backup`.")],
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    identity: Annotated[
        Path | None, typer.Option("--identity", "-i", help="age key file (AGE-SECRET-KEY-...).")
    ] = None,
    passphrase_file: PassphraseFileOpt = None,
    dry_run: DryRunOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Restore into a cluster that is not empty.")
    ] = False,
    argocd_manifest: ArgoManifestOpt = None,
) -> None:
    """Restore a backup: sealing key, CRDs, Argo CD, secrets and certificates, Applications."""
    if not archive.is_file():
        raise UsageError(f"{archive}: no such backup file")
    key = (
        Key(identities=read_identities(identity))
        if identity
        else Key(passphrase=read_passphrase(passphrase_file, False))
    )
    data = open_archive(archive, key)  # verified before anything is sent
    m = data.manifest
    out_console.print(
        f"backup of {m['source'].get('server', '?')} taken {m['created']}: {m['total']} objects",
        markup=False,
    )
    with connect(kubeconfig, context) as kube:
        result = restore(kube, data, argocd_manifest=argocd_manifest, force=force, dry_run=dry_run)
    verb = "would apply" if dry_run else "applied"
    for name, res in result.steps:
        out_console.print(f"{name}: {verb} {res.total}: {res.summary()}", markup=False)
    out_console.print(
        f"restored {result.total} objects" if not dry_run else "dry run: nothing changed"
    )


def register(app: typer.Typer) -> None:
    """Add the ``restore`` command."""
    app.command("restore")(restore_cmd)
