"""The ``homeport`` command line: parse, call, print. One module per verb.

Start-up is kept to what the command needs: ``homeport --version``, ``homeport --help``
and shell completion of a verb are answered here from static tables without importing
Typer or Rich (they run from pre-commit hooks and shell prompts), and so is a plain
``homeport check`` line (:mod:`homeport.cli._checkrun`); any other command builds the
Typer application in :mod:`homeport.cli._app` with only the module of the verb being run.

Shell completion speaks Typer's protocol: ``eval "$(_HOMEPORT_COMPLETE=source_bash
homeport)"`` (or ``source_zsh``, ``source_fish``) installs it; the shell then runs
``homeport`` with ``_HOMEPORT_COMPLETE=complete_<shell>`` and the words typed so far.
"""

from __future__ import annotations

import os
import shlex
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


COMPLETE_VAR = "_HOMEPORT_COMPLETE"


def completion_words(instruction: str) -> tuple[list[str], str] | None:
    """The words before the cursor and the word being completed, as Typer's shells pass them.

    Args:
        instruction: The value of ``_HOMEPORT_COMPLETE`` (``complete_bash`` ...).

    Returns:
        (arguments after the program name, incomplete word), or None for an instruction
        or a command line (an open quote) this fast path leaves to Typer.
    """
    try:
        if instruction == "complete_bash":
            words = shlex.split(os.environ.get("COMP_WORDS", ""))
            cword = int(os.environ.get("COMP_CWORD", "0"))
            return words[1:cword], words[cword] if cword < len(words) else ""
        if instruction in ("complete_zsh", "complete_fish"):
            line = os.environ.get("_TYPER_COMPLETE_ARGS", "")
            args = shlex.split(line)[1:]
            if args and not line.endswith(" "):
                return args[:-1], args[-1]
            return args, ""
    except ValueError:
        return None
    return None


def _zsh_escape(s: str) -> str:
    return (
        s.replace('"', '""')
        .replace("'", "''")
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace(":", r"\\:")
    )


def complete_verb(instruction: str) -> tuple[str, int] | None:
    """Complete the verb (the first word) without the CLI framework.

    Args:
        instruction: The value of ``_HOMEPORT_COMPLETE``.

    Returns:
        (what to print, exit code), or None when the cursor is not on the verb (Typer
        completes options and a verb's arguments).
    """
    got = completion_words(instruction)
    if got is None:
        return None
    args, incomplete = got
    if [a for a in args if a != "--debug"] or incomplete.startswith("-"):
        return None
    verbs = [(v, summary) for v, (_, summary) in VERBS.items() if v.startswith(incomplete)]
    if instruction == "complete_bash":
        return "\n".join(v for v, _ in verbs) + "\n", 0
    if instruction == "complete_zsh":
        if not verbs:
            return "_files\n", 0
        items = "\n".join(f'"{_zsh_escape(v)}":"{_zsh_escape(s)}"' for v, s in verbs)
        return f"_arguments '*: :(({items}))'\n", 0
    action = os.environ.get("_TYPER_COMPLETE_FISH_ACTION", "")
    if action == "is-args":
        return "", 0 if verbs else 1
    lines = "\n".join(f"{v}\t{s}" for v, s in verbs)
    return (lines + "\n" if action == "get-args" and verbs else "\n"), 0


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
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:
        done = complete_verb(instruction)
        if done is not None:
            sys.stdout.write(done[0])
            sys.exit(done[1])
        words = completion_words(instruction)
        # Options and arguments of a verb: Typer completes them with that verb's module only.
        args = words[0][:1] if words and words[0][:1] != ["--debug"] else args
    elif args[:1] == ["check"]:
        # Pre-commit hooks run `homeport check [DIR] [options]`: plain lines skip Typer.
        from homeport.cli._checkrun import run_fast

        code = run_fast(args[1:])
        if code is not None:
            sys.exit(code)
    from homeport.cli._app import run

    run(args)
