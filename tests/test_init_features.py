# ruff: noqa: F811  (fixtures imported from test_init are parameters here)
"""`homeport init` honours git.path and creates every Secret an enabled feature needs.

Real parts: the homeport CLI as a real process (init, render with its offline check against
the pinned CRDs from ../shared: the first test), real RSA/AES sealing, and unsealing with
the real private key. Nothing is stubbed; the other flows and the error matrix run the
CLI's entry point in-process (the same code, without a process start per command).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from homeport import sealing, secretstore
from homeport.config import load_config
from homeport.platform import secrets as psec
from keys import private_key
from test_init import Result, call, home, shared_pair  # noqa: F401

TOKEN = "cf-TOKEN-0123456789abcdef"
S3_ID = "AKIAHOMEPORTTEST01"
S3_KEY = "s3-secret/KEY+with=chars"
SMTP = "smtp pass with spaces"
APP_PW = "nextcloud-db-pw-42"

CONFIG = """\
domain: lab.example.net
email: ops@example.net
git:
  url: https://git.example.net/ops/platform.git
  path: clusters/home
components:
  monitoring:
    alerts:
      email: alerts@example.net
      smtp_host: smtp.example.net:587
backup:
  s3:
    endpoint: https://s3.eu-central-1.amazonaws.com
    bucket: example-net-backups
    region: eu-central-1
apps:
  - name: nextcloud
    image: nextcloud:31.0.8-apache
    port: 80
    secret_env:
      POSTGRES_PASSWORD: db-password
"""


def run(args: list[str], home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run homeport as a process; keep the test's CRD/schema overrides, replace HOME."""
    env = {k: v for k, v in os.environ.items() if k != "HOMEPORT_HOME"}
    env["HOMEPORT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _files(tmp: Path) -> dict[str, Path]:
    values = {"tok": TOKEN + "\n", "ak": S3_ID + "\n", "sk": S3_KEY + "\n", "sp": SMTP + "\n"}
    values["np"] = APP_PW + "\n"
    out = {}
    for name, value in values.items():
        p = tmp / name
        p.write_text(value)
        out[name] = p
    return out


def _flags(f: dict[str, Path]) -> list[str]:
    return [
        "--cloudflare-token-file", str(f["tok"]),
        "--s3-access-key-id-file", str(f["ak"]),
        "--s3-secret-key-file", str(f["sk"]),
        "--smtp-password-file", str(f["sp"]),
        "--app-secret-file", f"nextcloud/db-password={f['np']}",
    ]  # fmt: skip


def _opened(tree: Path, ns: str, name: str, home: Path) -> dict[str, bytes]:
    key = private_key(home / sealing.KEY_FILE)
    return sealing.unseal(secretstore.read_sealed(secretstore.secret_path(tree, ns, name)), [key])


def test_use_config_with_git_path_s3_and_email_renders_clean(tmp_path: Path) -> None:
    """init --use-config then render: secrets under clusters/home, 0 findings."""
    home = tmp_path / "home"
    d = tmp_path / "repo"
    d.mkdir()
    (d / "homeport.yaml").write_text(CONFIG)
    f = _files(tmp_path)

    # Negative control first: a needed value missing -> exit 2, the flag named, nothing written.
    bad = run(["init", "--dir", str(d), "--use-config", "--non-interactive", *_flags(f)[:-4]], home)
    assert bad.returncode == 2
    assert "--smtp-password-file is required with --non-interactive" in bad.stderr
    assert sorted(p.name for p in d.iterdir()) == ["homeport.yaml"]

    r = run(["init", "--dir", str(d), "--use-config", "--non-interactive", *_flags(f)], home)
    assert r.returncode == 0, r.stderr
    assert (d / "homeport.yaml").read_text() == CONFIG  # kept as the user wrote it
    assert not (d / "cluster").exists()
    tree = d / "clusters" / "home"
    cfg = load_config(d / "homeport.yaml")
    wanted = {(p.namespace, p.name) for p in psec.platform_secrets(cfg)}
    assert {("authentik", "backup-s3"), ("monitoring", "alertmanager-smtp")} <= wanted
    assert ("nextcloud", "nextcloud-env") in wanted
    assert {(s.namespace, s.name) for s in secretstore.list_secrets(tree)} == wanted

    assert _opened(tree, "authentik", "backup-s3", home) == {
        "ACCESS_KEY_ID": S3_ID.encode(),
        "ACCESS_SECRET_KEY": S3_KEY.encode(),
        "REGION": b"eu-central-1",
    }
    assert _opened(tree, "monitoring", "alertmanager-smtp", home) == {"password": SMTP.encode()}
    assert _opened(tree, "nextcloud", "nextcloud-env", home) == {"db-password": APP_PW.encode()}
    # No value reaches the tree, the config or the output in plaintext.
    texts = "".join(p.read_text() for p in d.rglob("*") if p.is_file()) + r.stdout + r.stderr
    for secret in (TOKEN, S3_ID, S3_KEY, SMTP, APP_PW):
        assert secret not in texts

    rendered = run(["render", "-c", str(d / "homeport.yaml")], home)
    assert rendered.returncode == 0, rendered.stderr
    assert "0 errors, 0 warnings" in rendered.stderr + rendered.stdout
    # The secrets Application syncs the folder the secrets are in.
    assert "path: clusters/home/secrets" in (tree / "apps" / "secrets.yaml").read_text()

    # Running it again keeps every sealed secret untouched (no flags needed for kept ones).
    before = {p: p.read_bytes() for p in (tree / "secrets").rglob("*.yaml")}
    again = run(["init", "--dir", str(d), "--use-config", "--non-interactive"], home)
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in (tree / "secrets").rglob("*.yaml")} == before
    assert again.stdout.count("kept") == len(wanted)
    # A new token for a kept secret is refused, not dropped without a word.
    refused = run(["init", "--dir", str(d), "--use-config", "--non-interactive",
                   "--cloudflare-token-file", str(f["tok"])], home)  # fmt: skip
    assert refused.returncode == 2
    assert "--cloudflare-token-file: the Cloudflare token is already sealed" in refused.stderr


def test_template_honours_git_path(tmp_path: Path, home: Path, call: Callable[..., Result]) -> None:
    """init --git-path writes git.path and seals into that folder; render checks clean."""
    d = tmp_path / "repo"
    f = _files(tmp_path)
    r = call(
        [
            "init",
            "--non-interactive",
            "--dir",
            str(d),
            "--domain",
            "example.com",
            "--email",
            "me@example.com",
            "--git-url",
            "https://example.com/r.git",
            "--git-path",
            "clusters/home",
            "--cloudflare-token-file",
            str(f["tok"]),
        ],
        home,
    )
    assert r.returncode == 0, r.stderr
    assert load_config(d / "homeport.yaml").git.path == "clusters/home"
    assert (d / "clusters/home/secrets/cert-manager/cloudflare-api-token.yaml").is_file()
    assert not (d / "cluster").exists()
    rendered = call(["render", "-c", str(d / "homeport.yaml")], home)
    assert rendered.returncode == 0, rendered.stderr
    assert "0 errors, 0 warnings" in rendered.stderr + rendered.stdout


def test_prompts_for_each_needed_value(
    tmp_path: Path, home: Path, call: Callable[..., Result]
) -> None:
    """Without flags, init asks (hidden) for every value only the user knows."""
    d = tmp_path / "repo"
    d.mkdir()
    (d / "homeport.yaml").write_text(CONFIG)
    stdin = "\n".join([TOKEN, S3_ID, S3_KEY, SMTP, APP_PW]) + "\n"
    r = call(["init", "--dir", str(d), "--use-config"], home, stdin=stdin)
    assert r.returncode == 0, r.stderr
    for label in ("Cloudflare API token", "S3 access key ID", "S3 secret access key", "SMTP"):
        assert label in r.stderr
    for secret in (TOKEN, S3_ID, S3_KEY, SMTP, APP_PW):
        assert secret not in r.stdout + r.stderr  # nothing echoed
    tree = d / "clusters" / "home"
    assert _opened(tree, "monitoring", "alertmanager-smtp", home) == {"password": SMTP.encode()}
    assert _opened(tree, "authentik", "backup-s3", home)["ACCESS_KEY_ID"] == S3_ID.encode()


def test_force_replaces_a_given_value_and_rotate_keeps_user_values(
    tmp_path: Path, home: Path, call: Callable[..., Result]
) -> None:
    """--force with --smtp-password-file replaces it; --rotate regenerates only generated keys."""
    d = tmp_path / "repo"
    d.mkdir()
    (d / "homeport.yaml").write_text(CONFIG)
    f = _files(tmp_path)
    base = ["init", "--dir", str(d), "--use-config", "--non-interactive"]
    assert call([*base, *_flags(f)], home).returncode == 0
    tree = d / "clusters" / "home"
    db = _opened(tree, "authentik", "authentik-db-credentials", home)

    # Without --force a new value for a sealed secret is refused, not silently dropped.
    (tmp_path / "sp2").write_text("new smtp\n")
    refused = call([*base, "--smtp-password-file", str(tmp_path / "sp2")], home)
    assert refused.returncode == 2
    assert "--smtp-password-file: monitoring/alertmanager-smtp is already sealed" in refused.stderr

    r = call([*base, "--force", "--smtp-password-file", str(tmp_path / "sp2")], home)
    assert r.returncode == 0, r.stderr
    assert _opened(tree, "monitoring", "alertmanager-smtp", home) == {"password": b"new smtp"}
    assert _opened(tree, "authentik", "authentik-db-credentials", home) == db  # kept

    r = call([*base, "--force", "--rotate"], home)
    assert r.returncode == 0, r.stderr
    assert _opened(tree, "authentik", "authentik-db-credentials", home) != db  # regenerated
    assert _opened(tree, "authentik", "backup-s3", home)["ACCESS_SECRET_KEY"] == S3_KEY.encode()
    assert _opened(tree, "nextcloud", "nextcloud-env", home) == {"db-password": APP_PW.encode()}


MINIMAL = """\
domain: example.com
email: me@example.com
git:
  url: https://example.com/r.git
"""


@pytest.mark.parametrize(
    ("config", "extra", "message"),
    [
        (MINIMAL, ["--smtp-password-file", "{sp}"], "--smtp-password-file: not needed"),
        (MINIMAL, ["--s3-secret-key-file", "{sk}"], "--s3-secret-key-file: not needed"),
        (MINIMAL, ["--app-secret-file", "ghost/key={np}"], "no app 'ghost' reads key 'key'"),
        (MINIMAL, ["--app-secret-file", "nokey={np}"], "expected APP/KEY=FILE"),
        (MINIMAL, ["--domain", "example.org"], "--domain: --use-config takes every answer"),
        (MINIMAL, ["--git-path", "x"], "--git-path: --use-config takes every answer"),
        (None, [], "--use-config: "),
        (CONFIG, ["--smtp-password-file", "-", "--s3-secret-key-file", "-"], "only one flag"),
        (CONFIG, ["--smtp-password-file", "{tmp}/missing"], "--smtp-password-file: "),
        (MINIMAL.replace("example.com\n", "example.com\nha: maybe\n", 1), [], "ha"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path,
    home: Path,
    call: Callable[..., Result],
    config: str | None,
    extra: list[str],
    message: str,
) -> None:
    """Each bad flag or config: exit 2, one line naming it, no file written."""
    d = tmp_path / "repo"
    d.mkdir()
    if config is not None:
        (d / "homeport.yaml").write_text(config)
    f = _files(tmp_path)
    subst = {k: str(v) for k, v in f.items()} | {"tmp": str(tmp_path)}
    args = [a.format(**subst) for a in extra]
    r = call(
        ["init", "--dir", str(d), "--use-config", "--non-interactive", "--cloudflare-token-file",
         str(f["tok"]), *args],
        home,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in d.iterdir()) == (["homeport.yaml"] if config else [])
