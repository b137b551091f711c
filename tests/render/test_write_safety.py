"""Writing the tree: check before the swap, links carried over as links, one lock for writers.

Real: the `homeport render` CLI in a subprocess, the real check, real SealedSecrets sealed
with a generated controller key, real processes racing for the tree. Nothing is faked; the
only hook is a wrapper around ``os.replace`` that opens the window between carry-over and
swap in which a concurrent `secret set` used to be lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from homeport import sealing, secretstore
from homeport.config import HomeportConfig, load_config
from homeport.errors import UsageError
from homeport.fsutil import tree_lock
from homeport.gitops import TreeCheckFailed, render_tree, tree_digest, write_tree
from homeport.platform.secrets import platform_secrets
from keys import throwaway_cert

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
WEB_APP = "apps:\n  - name: web\n    image: traefik/whoami:v1.11.0\n    port: 80\n"
# The app now reads a Secret nobody sealed yet: a valid config whose tree fails the check.
WEB_SECRET_ENV = "    secret_env:\n      TOKEN: token\n"


@cache
def _cert() -> x509.Certificate:
    return throwaway_cert()


def sealed(namespace: str, name: str, keys: tuple[str, ...] = ("k",), typ: str = "Opaque") -> Any:
    return sealing.seal_secret(_cert(), name, namespace, {k: b"x" for k in keys}, secret_type=typ)


def seal_platform(cfg: HomeportConfig, tree: Path) -> None:
    """What `homeport init` seals, so the tree's check passes."""
    for s in platform_secrets(cfg):
        secretstore.write_sealed(tree, sealed(s.namespace, s.name, s.keys, s.type), replace=True)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=300,
    )


# -- item 8: the staged tree is checked before it replaces the old one -------------------


def test_render_does_not_write_a_tree_that_fails_its_check(tmp_path: Path) -> None:
    cfg_file = tmp_path / "homeport.yaml"
    cfg_file.write_text(MINIMAL + WEB_APP)
    tree = tmp_path / "cluster"
    seal_platform(load_config(cfg_file), tree)
    # Negative control: a tree that passes is written, exit 0.
    ok = run_cli("render", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    deployment = tree / "components" / "app-web" / "deployment-web.yaml"
    assert deployment.is_file() and "TOKEN" not in deployment.read_text()
    before = tree_digest(tree)

    cfg_file.write_text(MINIMAL + WEB_APP + WEB_SECRET_ENV)
    bad = run_cli("render", cwd=tmp_path)
    assert bad.returncode == 1, bad.stderr
    assert "HP-R005" in bad.stderr and 'Secret "web/web-env"' in bad.stderr
    assert "nothing was written" in bad.stderr and "--force" in bad.stderr
    assert tree_digest(tree) == before, "render wrote a tree that fails its check"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster", "homeport.yaml"]

    forced = run_cli("render", "--force", cwd=tmp_path)
    assert forced.returncode == 1, forced.stderr
    assert "written anyway (--force)" in forced.stderr
    assert "TOKEN" in deployment.read_text()


def test_app_add_says_the_config_changed_when_the_tree_fails(tmp_path: Path) -> None:
    """Without `homeport init` the platform secrets are missing: the tree fails its check."""
    (tmp_path / "homeport.yaml").write_text(MINIMAL)
    res = run_cli(
        "app", "add", "wiki", "--image", "requarks/wiki:2.5.300", "--port", "3000", cwd=tmp_path
    )
    assert res.returncode == 1, res.stderr
    assert "HP-R005" in res.stderr
    assert "homeport.yaml was updated but" in res.stderr and "was not" in res.stderr
    assert "name: wiki" in (tmp_path / "homeport.yaml").read_text()
    assert not (tmp_path / "cluster").exists()


def test_write_tree_checks_the_staged_tree_with_what_it_carries(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    cfg = load_config(ROOT / "examples" / "minimal.yaml")
    write_tree(render_tree(cfg), out)
    secretstore.write_sealed(out, sealed("web", "kept"))
    before = tree_digest(out)
    seen: list[Path] = []

    def verify(staged: Path) -> int:
        seen.append(staged)
        assert staged != out and (staged / "secrets" / "web" / "kept.yaml").is_file()
        return 1

    other = render_tree(load_config(ROOT / "examples" / "full-ha.yaml"))
    with pytest.raises(TreeCheckFailed) as exc:
        write_tree(other, out, verify=verify)
    assert exc.value.exit_code == 1 and seen
    assert tree_digest(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["cluster"], "staged tree left behind"
    res = write_tree(other, out, verify=verify, force=True)
    assert res.check_code == 1 and tree_digest(out) != before


# -- item 9: links are carried over as links ---------------------------------------------


def test_symlinked_secrets_and_files_survive_a_render(tmp_path: Path) -> None:
    out = tmp_path / "repo" / "cluster"
    store = tmp_path / "repo" / "sealed-store"
    write_tree(render_tree(load_config(ROOT / "examples" / "minimal.yaml")), out)
    # The user keeps the sealed secrets elsewhere and links them into the tree.
    secretstore.write_sealed(out, sealed("web", "token"))
    (out / "secrets").rename(store)
    (out / "secrets").symlink_to("../sealed-store")
    (tmp_path / "repo" / "NOTES.md").write_text("mine\n")
    (out / "NOTES.md").symlink_to("../NOTES.md")
    (out / "dangling").symlink_to("nowhere")

    res = write_tree(render_tree(load_config(ROOT / "examples" / "full-ha.yaml")), out)
    assert res.total_changes > 0  # the tree really was rebuilt and swapped
    assert (out / "secrets").is_symlink(), "symlinked secrets/ dropped"
    assert os.readlink(out / "secrets") == "../sealed-store"
    assert (out / "secrets" / "web" / "token.yaml").is_file()
    assert os.readlink(out / "NOTES.md") == "../NOTES.md"
    assert os.readlink(out / "dangling") == "nowhere"
    assert (store / "web" / "token.yaml").is_file()  # the linked-to files are untouched
    # Render's own secrets/README.md goes where the user's link points.
    assert (store / "README.md").is_file()


# -- item 9: one lock for every writer ---------------------------------------------------


def _waits_for_lock(proc: subprocess.Popen[str], tree: Path, timeout: float = 120) -> bool:
    """Wait until ``proc`` waits for the tree's lock (True) or has exited (False).

    ``tree_lock`` opens the tree's parent directory and retries ``flock`` on it: while it
    waits, the directory is among the process's open files (/proc/<pid>/fd) on every
    look; a directory listing during start-up holds it only for an instant, so it must be
    seen on looks spread over a quarter of a second.
    """
    target = os.path.realpath(tree.absolute().parent)
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            links = [
                os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{proc.pid}/fd")
            ]
        except OSError:  # the process ended, or a descriptor closed while listed
            links = []
        if target in links:
            since = since or time.monotonic()
            if time.monotonic() - since >= 0.25:
                return True
        else:
            since = None
        time.sleep(0.02)
    raise AssertionError(f"process {proc.pid} neither waited for {tree}'s lock nor ended")


_SECRET_SET = """
import json, sys
from pathlib import Path
from homeport import secretstore
obj = json.loads(sys.stdin.read())
print("ready", flush=True)
secretstore.write_sealed(Path(sys.argv[1]), obj, replace=True)
"""


def test_secret_set_during_a_render_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cluster"
    write_tree(render_tree(load_config(ROOT / "examples" / "minimal.yaml")), out)
    real_replace = os.replace
    procs: list[subprocess.Popen[str]] = []

    def replace(src: Any, dst: Any) -> None:
        if Path(src) == out and not procs:
            # Carry-over is done, the swap is next: another process writes a secret now.
            proc = subprocess.Popen(
                [sys.executable, "-c", _SECRET_SET, str(out)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(sealed("web", "raced")))
            proc.stdin.close()
            assert proc.stdout.readline() == "ready\n"
            # Without the lock it finishes here, into the old tree; with it, it waits.
            _waits_for_lock(proc, out)
        real_replace(src, dst)

    monkeypatch.setattr("homeport.gitops.os.replace", replace)
    write_tree(render_tree(load_config(ROOT / "examples" / "full-ha.yaml")), out)
    monkeypatch.undo()
    assert procs and procs[0].wait(timeout=60) == 0
    assert (out / "secrets" / "web" / "raced.yaml").is_file(), "secret written during render lost"


def test_render_waits_for_the_tree_lock(tmp_path: Path) -> None:
    """`homeport render` (a real process) does not write while another writer holds the lock."""
    cfg_file = tmp_path / "homeport.yaml"
    cfg_file.write_text(MINIMAL)
    with tree_lock(tmp_path / "cluster"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeport", "render", "--no-check"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert _waits_for_lock(proc, tmp_path / "cluster"), proc.communicate()
        assert not (tmp_path / "cluster").exists()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "cluster" / "root-app.yaml").is_file()


def test_tree_lock_is_reentrant_and_times_out(tmp_path: Path) -> None:
    tree = tmp_path / "cluster"
    with tree_lock(tree), tree_lock(tree):  # app add -> render in one command
        result: list[BaseException | None] = []

        def other() -> None:
            try:
                with tree_lock(tree, timeout=0.3):
                    result.append(None)
            except UsageError as exc:
                result.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert isinstance(result[0], UsageError) and "another homeport command" in str(result[0])
    with tree_lock(tree, timeout=0.3):  # released: free again
        pass
