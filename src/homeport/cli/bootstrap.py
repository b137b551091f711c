"""``homeport bootstrap``: install the sealing key, CRDs, Argo CD and the root Application."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport import mirrorcreds, sealing
from homeport.cli._common import load, out_console
from homeport.cli._waves import follow
from homeport.cluster.bootstrap import (
    RepoCredentials,
    bootstrap,
    read_repo_credentials,
)
from homeport.cluster.kube import connect
from homeport.cluster.wavewait import DEFAULT_GRACE
from homeport.errors import UsageError

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="Path of homeport.yaml.", envvar="HOMEPORT_CONFIG"),
]
ContextOpt = Annotated[
    str | None, typer.Option("--context", help="Kubeconfig context (default: the current one).")
]
KubeconfigOpt = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Validate every object on the server; change nothing.")
]
ArgoManifestOpt = Annotated[
    str | None,
    typer.Option(
        "--argocd-manifest",
        help="Argo CD install.yaml (default: the pinned release's, carried by homeport).",
        envvar="HOMEPORT_ARGOCD_MANIFEST",
    ),
]


def _credentials(path: Path | None, username: str | None) -> RepoCredentials | None:
    if path is not None:
        return read_repo_credentials(path)
    if username:
        # Prompted, never taken from a flag (it would land in shell history).
        token = typer.prompt(f"password or token for {username}", hide_input=True)
        if not token:
            raise UsageError("--repo-username: an empty password or token")
        return RepoCredentials(username=username, password=token)
    return None


def bootstrap_cmd(
    config: ConfigOpt = Path("homeport.yaml"),
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    dry_run: DryRunOpt = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Follow the sync waves until every Application is Synced and Healthy."
        ),
    ] = False,
    timeout: Annotated[
        int, typer.Option("--timeout", help="Seconds --wait waits at most.", min=1)
    ] = 900,
    degraded_grace: Annotated[
        float,
        typer.Option(
            "--degraded-grace",
            help="Seconds an Application may stay Degraded or its sync Failed before --wait fails.",
            min=0,
        ),
    ] = DEFAULT_GRACE,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between --wait's looks.", min=0.05)
    ] = 2.0,
    repo_credentials: Annotated[
        Path | None,
        typer.Option(
            "--repo-credentials",
            help="Private Git repo: a file with an SSH private key, or YAML username/password.",
        ),
    ] = None,
    repo_username: Annotated[
        str | None,
        typer.Option("--repo-username", help="Private Git repo over HTTPS: prompts for the token."),
    ] = None,
    argocd_manifest: ArgoManifestOpt = None,
) -> None:
    """Install homeport into a cluster: sealing key, CRDs, Argo CD, root Application.

    Safe to run again: objects already as wanted are left alone.
    """
    cfg = load(config)
    pair = sealing.KeyPair(
        sealing.home_dir() / sealing.KEY_FILE, sealing.home_dir() / sealing.CERT_FILE
    )
    if not (pair.key_path.exists() and pair.cert_path.exists()):
        raise UsageError(
            f"{pair.key_path}: no sealing key; run `homeport init` (or restore it from a backup)"
        )
    creds = _credentials(repo_credentials, repo_username)
    mirror_secrets = []
    if cfg.mirror.logins():
        # Mirror logins come from the tree's SealedSecrets (see homeport.mirrorcreds).
        tree = config.parent / cfg.git.path
        opened = mirrorcreds.open_logins(tree, cfg, [pair.private_key()])
        mirror_secrets = [mirrorcreds.repository_secret(m, values) for m, values in opened]
    with connect(kubeconfig, context) as kube:
        result = bootstrap(
            kube,
            cfg,
            pair=pair,
            repo_credentials=creds,
            mirror_secrets=mirror_secrets,
            argocd_manifest=argocd_manifest,
            dry_run=dry_run,
        )
        pf = result.preflight
        out_console.print(f"cluster {kube.server} (Kubernetes {pf.server_version})", markup=False)
        for note in pf.notes:
            out_console.print(f"  {note}", markup=False)
        verb = "would apply" if dry_run else "applied"
        for step in result.steps:
            out_console.print(
                f"{step.name}: {verb} {step.result.total}: {step.result.summary()}", markup=False
            )
        if not result.changed:
            out_console.print("no changes: the cluster already matches", markup=False)
        if wait and not dry_run:
            follow(kube, timeout=timeout, interval=interval, grace=degraded_grace)
            out_console.print("all Applications are Synced and Healthy", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``bootstrap`` command."""
    app.command("bootstrap")(bootstrap_cmd)
