"""The ``homeport ...`` examples of README.md and docs/ work as written (issue 15, item 12).

Real: the ``homeport`` command's entry point (``homeport.cli.main``, what the console
script calls) run in this process with the example's arguments, working directory,
environment and stdin (a process per example would cost most of this file's time;
tests/test_bundle.py and tests/test_cli_startup.py run the command as a process), the
files it writes, the CRDs and chart schemas of ../shared. Every example (fenced blocks
and inline code spans) is checked against the command's own ``--help``: the subcommand
exists and every option it uses is one the command takes. The code-block examples that
need nothing but the machine are then run, in the order a reader follows them, in a
fresh directory. Not run: inline spans in prose (often fragments), usage synopses with
placeholders, and the commands of ``NOT_RUN_HERE`` (cluster, internet, Cloudflare), each
with its reason.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

from clirun import run_cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
# Guides whose commands build on each other from a bare machine; each is run in order, in a
# directory of its own, by its own test (here they are checked against the CLI only).
RUN_ELSEWHERE = {
    "docs/getting-started.md": "tests/cluster/test_getting_started.py",
}
# Single examples that need a homeport.yaml other than the README tour's, and the test that
# runs them with one.
RUN_ELSEWHERE_LINES = {
    "homeport init --use-config --smtp-password-file smtp-password.txt": (
        "needs alerts.email set; tests/test_init_features.py runs it with such a config"
    ),
}

# Examples that need a cluster, the internet or Cloudflare, by subcommand.
NOT_RUN_HERE = {
    "bootstrap": "needs a cluster with Argo CD's images (tests/cluster runs it on kube-apiserver)",
    "status": "needs a cluster (tests/cluster/test_status.py)",
    "doctor": "probes the live platform over the network (tests/traffic: against real Traefik)",
    "backup": "needs a cluster (tests/cluster/test_backup*.py)",
    "restore": "needs a cluster and an archive (tests/cluster/test_backup.py)",
    "schemas pull": "downloads from the internet",
    "charts pull": "downloads the pinned charts from their Helm or OCI repositories",
    "ddns once": "talks to Cloudflare and the IP providers (tests/ddns use an emulator)",
    "ddns run": "talks to Cloudflare and the IP providers (tests/ddns use an emulator)",
    "ddns": "names the command group in prose; its subcommands talk to Cloudflare",
}
# Subcommands that take subcommands.
GROUPS = ("app", "secret", "schemas", "charts", "ddns")


def _join_continuations(block: str) -> list[str]:
    lines: list[str] = []
    for ln in block.splitlines():
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + ln.strip()
        else:
            lines.append(ln.strip())
    return lines


def _strip_comment(line: str) -> str:
    # A shell comment starts at " #" outside quotes; docs never quote a #.
    return re.split(r"\s+#\s", line, maxsplit=1)[0].strip()


def examples(fenced_only: bool = False) -> list[tuple[str, str]]:
    """Every ``homeport ...`` example: (where, command line).

    Args:
        fenced_only: Only lines of code blocks (what a reader copies and runs), not the
            inline code spans of the prose (checked against the CLI, not run).
    """
    out: list[tuple[str, str]] = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        rel = doc.relative_to(ROOT).as_posix()
        for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S):
            if m.group(1) not in ("", "sh", "bash", "console"):
                continue
            for ln in _join_continuations(m.group(2)):
                ln = _strip_comment(ln)
                if ln.startswith("homeport "):
                    out.append((rel, ln))
        if fenced_only:
            continue
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        for m in re.finditer(r"`(homeport [^`]+)`", prose):
            words = m.group(1).split()
            # Prose like "homeport app add/remove" names commands; it is not an example.
            if not any("/" in w or "|" in w for w in words[1:3]):
                out.append((rel, m.group(1).strip()))
    return out


def subcommand(argv: list[str]) -> str:
    """``secret set`` for ``homeport secret set x ...``."""
    return " ".join(argv[1:3] if argv[1] in GROUPS and len(argv) > 2 else argv[1:2])


def _run(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd, env=dict(env), stdin=stdin)


@cache
def _help(sub: str) -> tuple[int, str]:
    env = {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    proc = _run([*sub.split(), "--help"], ROOT, env)
    return proc.returncode, proc.stdout


def problems(line: str) -> list[str]:
    """What is wrong with an example compared to the CLI's help (empty when nothing)."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        return [f"not a shell line: {exc}"]
    if len(argv) < 2:
        return ["no subcommand"]
    sub = subcommand(argv)
    code, text = _help(sub)
    if code != 0:
        return [f'no command "homeport {sub}"']
    out = []
    for raw in argv[1 + len(sub.split()) :]:
        tok = raw.strip("[]")  # synopses: [--context C] [--dry-run]
        if tok.startswith("-") and tok not in ("-",):
            name = tok.split("=", 1)[0]
            if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
                out.append(f'"homeport {sub}" has no option {name}')
    return out


def test_examples_are_found() -> None:
    found = examples()
    subs = {subcommand(shlex.split(ln)) for _, ln in found}
    # Negative control for the extraction: the README's quick tour is in.
    assert {"init", "render", "diff", "check", "app add", "secret set", "status"} <= subs
    assert len(found) >= 25, len(found)


@pytest.mark.parametrize(("where", "line"), examples(), ids=lambda v: str(v)[:60])
def test_example_matches_the_cli(where: str, line: str) -> None:
    assert problems(line) == [], f"{where}: {line}"


def test_the_checker_catches_a_wrong_example() -> None:
    """Negative controls: an unknown option and an unknown command are reported."""
    assert problems("homeport check cluster --strikt") == [
        '"homeport check" has no option --strikt'
    ]
    assert problems("homeport deploy") == ['no command "homeport deploy"']
    assert problems("homeport app add x --image a:1 --port 80 --auth sso") == []


def _synopsis(line: str) -> bool:
    """A usage line with placeholders (``[DIR]``, ``<zone>``, ``N``): checked, not run."""
    return bool(re.search(r"\[|<[a-z]|\bN\b", line))


def _offline(line: str) -> bool:
    return subcommand(shlex.split(line)) not in NOT_RUN_HERE


def test_every_example_is_run_or_has_a_reason() -> None:
    for _, line in examples():
        sub = subcommand(shlex.split(line))
        assert _offline(line) or sub in NOT_RUN_HERE, line


def test_offline_examples_run_as_written(tmp_path: Path) -> None:
    """README's tour, then every other offline example, in one fresh directory."""
    env = {"HOMEPORT_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    work = tmp_path / "lab"
    work.mkdir()
    # docs/check.md's `--crd-dir ./crds --chart-schema-dir ./chart-schemas`.
    (work / "crds").symlink_to(SHARED / "crds")
    (work / "chart-schemas").symlink_to(SHARED / "chart-schemas")
    # `~/.cache/homeport/charts` as `homeport charts pull` (not run: internet) leaves it.
    user_home = tmp_path / "user"
    (user_home / ".cache" / "homeport").mkdir(parents=True)
    (user_home / ".cache" / "homeport" / "charts").symlink_to(SHARED / "charts")
    # `homeport init` prompts: domain, e-mail, Git URL, Cloudflare token (stdin, no tty).
    answers = "example.com\nme@example.com\ngit@github.com:me/lab.git\ncf-token-123\n"
    ran: list[str] = []
    for where, line in examples(fenced_only=True):
        argv = shlex.split(line)
        if not _offline(line) or _synopsis(line) or line in ran or where in RUN_ELSEWHERE:
            continue
        if line in RUN_ELSEWHERE_LINES:
            continue
        # The shell would expand a leading ~ to the user's home.
        argv = [str(user_home) + a[1:] if a.startswith("~/") else a for a in argv]
        proc = _run(argv[1:], work, env, answers if argv[1] == "init" else "")
        # `check --strict` fails on warnings by design; every other example must succeed.
        ok = proc.returncode == 0 or (
            "--strict" in argv and proc.returncode == 1 and "warning" in proc.stdout
        )
        assert ok, f"{where}: {line}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        ran.append(line)
    # The tour really happened: the app and its sealed secret are in the tree.
    assert (work / "cluster" / "components" / "app-wiki").is_dir()
    assert (work / "cluster" / "secrets" / "wiki" / "wiki-env.yaml").is_file()
    assert any(ln.startswith("homeport check cluster -k 1.35") for ln in ran), ran
    assert len(ran) >= 12, ran
