"""The ``homeport`` command line: parse, call, print. One module per verb.

Start-up is kept to what the command needs: ``homeport --version`` and ``homeport --help``
are answered here from static tables without importing Typer or Rich (they run from
pre-commit hooks and shell prompts); any other command builds the Typer application in
:mod:`homeport.cli._app` with only the module of the verb being run.
"""

from __future__ import annotations

import sys
from typing import Any

from homeport import __version__

# Verb -> (module under homeport.cli that registers it, one-line summary), in help order.
# The summaries are the first lines of the verbs' docstrings; a test keeps them in sync.
VERBS: dict[str, tuple[str, str]] = {
    "init": (
        "init",
        "Create homeport.yaml, the sealing key pair, and the platform's sealed secrets.",
    ),
    "render": (
        "render",
        "Render homeport.yaml into an Argo CD GitOps tree, check it, then write it atomically.",
    ),
    "diff": ("diff", "Show, as a unified diff, what `homeport render` would change in the tree."),
    "check": ("check", "Check a rendered tree: schemas, references and policy. Exit 1 on errors."),
    "seal": ("seal", "Seal values into a SealedSecret and print it (sealed-secrets v0.36 format)."),
    "unseal": ("seal", "Open a SealedSecret with a private key (disaster recovery)."),
    "schema": (
        "schema",
        "Print the JSON Schema (draft-07) of homeport.yaml, for editors and yaml-language-server.",
    ),
    "bootstrap": (
        "bootstrap",
        "Install homeport into a cluster: sealing key, CRDs, Argo CD, root Application.",
    ),
    "status": (
        "status",
        "Show the platform's health. Exit code: 0 healthy, 3 warnings only, 1 something unhealthy.",
    ),
    "doctor": (
        "doctor",
        "Check DNS, ports, redirects, certificates, SSO and headers from outside.",
    ),
    "backup": (
        "backup",
        "Back up secrets, certificates, the sealing key and Argo CD's state, encrypted with age.",
    ),
    "restore": (
        "restore",
        "Restore a backup: sealing key, CRDs, Argo CD, secrets and certificates, Applications.",
    ),
    "app": ("apps", "Add or remove your apps (edits homeport.yaml, keeps your comments)."),
    "secret": (
        "secret",
        "Sealed secrets in the GitOps tree (<tree>/secrets/<namespace>/<name>.yaml).",
    ),
    "charts": ("charts", "Helm charts used by `homeport check --charts`."),
    "schemas": ("schemas", "Schemas used by `homeport check`."),
    "ddns": ("ddns", "Keep Cloudflare A/AAAA records pointing at this network's public address."),
}

ABOUT = "A production-grade Kubernetes platform for self-hosters, from one homeport.yaml."
# Root options: (flags, help). Typer's root callback in _app declares the same ones.
ROOT_OPTIONS = (
    ("--debug", "Show tracebacks for errors. [env var: HOMEPORT_DEBUG]"),
    ("--version", "Print the version."),
    ("--help", "Show this message and exit."),
)


def help_text() -> str:
    """The top-level help, plain text (what ``homeport --help`` prints)."""
    width = max(len(v) for v in VERBS)
    lines = ["Usage: homeport [OPTIONS] COMMAND [ARGS]...", "", f"  {ABOUT}", "", "Options:"]
    lines += [f"  {flag:<{width}}  {text}" for flag, text in ROOT_OPTIONS]
    lines += ["", "Commands:"]
    lines += [f"  {verb:<{width}}  {summary}" for verb, (_, summary) in VERBS.items()]
    lines += ["", "Run `homeport COMMAND --help` for a command's options."]
    return "\n".join(lines) + "\n"


def __getattr__(name: str) -> Any:
    # `from homeport.cli import app` (tests, embedding) gets the full CLI.
    if name == "app":
        from homeport.cli._app import build_app

        return build_app()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``homeport`` console script.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    # The two questions people ask most, answered without importing the CLI framework.
    if args == ["--version"]:
        sys.stdout.write(f"homeport {__version__}\n")
        return
    if args in (["--help"], ["-h"]):
        sys.stdout.write(help_text())
        return
    from homeport.cli._app import run

    run(args)
