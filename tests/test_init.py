"""`homeport init`, `seal`, `unseal` and `secret set|list`.

The main flow runs as real processes (``run``: a fresh home, its new key pair, the files
and output); the other flows and the error matrices run the CLI's real entry point in this
process (``call``: the same code without a process start per command).
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport import sealing, secretstore, yamlio
from homeport.cli import main
from homeport.config import SCHEMA_URL, load_config
from homeport.platform import secrets as psec
from keys import private_key, write_pair

TOKEN = "cf-TOKEN-9f8e7d6c5b4a3210"
GIT = "https://github.com/me/homelab.git"


def run(
    args: list[str], home: Path, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env["HOMEPORT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run the CLI's real entry point (homeport.cli.main) in this process.

    Same code path as the console script, minus ~1 s of interpreter start and imports,
    and minus the second and later consistency checks of the same private key
    (:func:`keys.private_key`). The main flow runs as a real process (``run``).
    """

    def _call(args: list[str], home: Path, cwd: Path | None = None, stdin: str = "") -> Result:
        for k in [k for k in os.environ if k.startswith("HOMEPORT_")]:
            monkeypatch.delenv(k)
        monkeypatch.setenv("HOMEPORT_HOME", str(home))
        # Each key's bytes are loaded (and checked) once per process, not once per command.
        monkeypatch.setattr(sealing, "load_private_key", private_key)
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["homeport", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return _call


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> sealing.KeyPair:
    # A pair for the tests that don't test its creation (generation is slow).
    return write_pair(tmp_path_factory.mktemp("pair"))


@pytest.fixture
def home(tmp_path: Path, shared_pair: sealing.KeyPair) -> Path:
    h = tmp_path / "home"
    h.mkdir(mode=0o700)
    for src in (shared_pair.key_path, shared_pair.cert_path):
        (h / src.name).write_bytes(src.read_bytes())
    (h / sealing.KEY_FILE).chmod(0o600)
    return h


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    p = tmp_path / "cf-token"
    p.write_text(TOKEN + "\n")
    return p


def init_args(d: Path, token_file: Path, *extra: str) -> list[str]:
    return [
        "init",
        "--non-interactive",
        "--dir",
        str(d),
        "--domain",
        "Example.COM.",
        "--email",
        "me@example.com",
        "--git-url",
        GIT,
        "--cloudflare-token-file",
        str(token_file),
        *extra,
    ]


def opened(tree: Path, ps: psec.PlatformSecret, home: Path) -> dict[str, bytes]:
    key = private_key(home / sealing.KEY_FILE)
    path = secretstore.secret_path(tree, ps.namespace, ps.name)
    return sealing.unseal(secretstore.read_sealed(path), [key])


def test_init_end_to_end_creates_key_config_and_secrets(tmp_path: Path, token_file: Path) -> None:
    home = tmp_path / "fresh-home"
    d = tmp_path / "repo"
    r = run(init_args(d, token_file), home)
    assert r.returncode == 0, r.stderr

    key_path = home / sealing.KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert str(key_path) in r.stdout
    assert "BACK UP THIS KEY" in r.stdout
    key_pem = key_path.read_text()
    body = "".join(key_pem.splitlines()[1:3])
    assert body not in r.stdout + r.stderr

    text = (d / "homeport.yaml").read_text()
    assert text.splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA_URL}"
    assert "\n# " in text  # commented for humans
    cfg = load_config(d / "homeport.yaml")
    assert cfg.domain == "example.com"
    assert cfg.email == "me@example.com"
    assert cfg.git.url == GIT
    assert (d / "sealing-cert.pem").read_bytes() == (home / sealing.CERT_FILE).read_bytes()

    tree = d / cfg.git.path
    listed = {(s.namespace, s.name) for s in secretstore.list_secrets(tree)}
    assert listed == {(p.namespace, p.name) for p in psec.platform_secrets(cfg)}
    assert opened(tree, psec.CERT_MANAGER_TOKEN, home) == {"api-token": TOKEN.encode()}
    assert opened(tree, psec.DDNS_TOKEN, home) == {"api-token": TOKEN.encode()}
    ak = opened(tree, psec.AUTHENTIK_SECRETS, home)
    assert set(ak) == set(psec.AUTHENTIK_SECRETS.keys)
    assert len(ak["secret-key"]) >= 50
    assert len(ak["bootstrap-password"]) >= 20
    assert len(ak["bootstrap-token"]) >= 32
    assert ak["bootstrap-email"] == b"me@example.com"
    db = opened(tree, psec.AUTHENTIK_DB, home)
    assert db["username"] == b"authentik"
    assert len(db["password"]) >= 20
    db_obj = secretstore.read_sealed(
        secretstore.secret_path(tree, "authentik", "authentik-db-credentials")
    )
    assert db_obj["spec"]["template"]["type"] == "kubernetes.io/basic-auth"


def test_init_interactive(tmp_path: Path, home: Path, call: Callable[..., Result]) -> None:
    d = tmp_path / "repo"
    answers = "\n".join(
        ["exa mple.com", "example.org", "not-an-email", "me@example.org", "nope", GIT, TOKEN, ""]
    )
    r = call(["init", "--dir", str(d)], home, stdin=answers)
    assert r.returncode == 0, r.stderr
    # Bad answers are explained and asked again.
    assert '"exa mple.com" is not a valid domain name' in r.stderr
    assert '"not-an-email" is not a valid e-mail address' in r.stderr
    assert '"nope" is not a Git URL' in r.stderr
    assert TOKEN not in r.stdout + r.stderr
    cfg = load_config(d / "homeport.yaml")
    assert (cfg.domain, cfg.email, cfg.git.url) == ("example.org", "me@example.org", GIT)
    assert opened(d / "cluster", psec.CERT_MANAGER_TOKEN, home) == {"api-token": TOKEN.encode()}


def test_init_token_from_stdin(
    tmp_path: Path, home: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    d = tmp_path / "repo"
    args = init_args(d, token_file)
    args[args.index(str(token_file))] = "-"
    r = call(args, home, stdin=TOKEN + "\n")
    assert r.returncode == 0, r.stderr
    assert opened(d / "cluster", psec.DDNS_TOKEN, home) == {"api-token": TOKEN.encode()}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_no_overwrite_without_force_and_force_keeps_passwords(
    tmp_path: Path, home: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    d = tmp_path / "repo"
    assert call(init_args(d, token_file), home).returncode == 0
    before = _snapshot(d)
    db_before = opened(d / "cluster", psec.AUTHENTIK_DB, home)
    ak_before = opened(d / "cluster", psec.AUTHENTIK_SECRETS, home)

    r = call(init_args(d, token_file), home)
    assert r.returncode == 2
    assert "homeport.yaml already exists; use --force" in r.stderr
    assert "Traceback" not in r.stderr
    assert _snapshot(d) == before

    # Without homeport.yaml, existing sealed secrets still block a plain init.
    (d / "homeport.yaml").unlink()
    r = call(init_args(d, token_file), home)
    assert r.returncode == 2
    assert "already exists; use --force" in r.stderr
    assert not (d / "homeport.yaml").exists()

    r = call(init_args(d, token_file, "--rotate"), home)
    assert r.returncode == 2
    assert "--rotate needs --force" in r.stderr

    new_token = tmp_path / "new-token"
    new_token.write_text("cf-NEW-token-0123456789\n")
    args = init_args(d, new_token, "--force")
    args[args.index("me@example.com")] = "admin@example.com"
    r = call(args, home)
    assert r.returncode == 0, r.stderr
    assert opened(d / "cluster", psec.AUTHENTIK_DB, home) == db_before
    ak = opened(d / "cluster", psec.AUTHENTIK_SECRETS, home)
    assert ak["secret-key"] == ak_before["secret-key"]
    assert ak["bootstrap-password"] == ak_before["bootstrap-password"]
    assert ak["bootstrap-email"] == b"admin@example.com"
    assert opened(d / "cluster", psec.DDNS_TOKEN, home) == {"api-token": b"cf-NEW-token-0123456789"}
    db_file = "cluster/secrets/authentik/authentik-db-credentials.yaml"
    assert (d / db_file).read_bytes() == before[db_file]  # untouched, not resealed

    r = call(init_args(d, new_token, "--force", "--rotate"), home)
    assert r.returncode == 0, r.stderr
    db_after = opened(d / "cluster", psec.AUTHENTIK_DB, home)
    assert db_after["password"] != db_before["password"]
    assert db_after["username"] == b"authentik"


def test_force_refuses_secrets_sealed_with_another_key(
    tmp_path: Path, home: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    d = tmp_path / "repo"
    assert call(init_args(d, token_file), home).returncode == 0
    before = _snapshot(d)
    # No key at all in this home: refused before a new key is made.
    empty_home = tmp_path / "empty-home"
    r = call(init_args(d, token_file, "--force"), empty_home)
    assert r.returncode == 2
    assert "was sealed with a key that is not in" in r.stderr
    assert not empty_home.exists()
    # Another key: it cannot open the secrets it would have to keep.
    other_home = tmp_path / "other-home"
    write_pair(other_home, "second")
    r = call(init_args(d, token_file, "--force"), other_home)
    assert r.returncode == 2
    assert "this key did not seal this secret" in r.stderr
    assert _snapshot(d) == before


def test_interactive_force_offers_previous_answers(
    tmp_path: Path, home: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    d = tmp_path / "repo"
    assert call(init_args(d, token_file), home).returncode == 0
    db_before = opened(d / "cluster", psec.AUTHENTIK_DB, home)
    # Enter three times: keep domain, e-mail and URL; the sealed token is kept, not asked.
    r = call(["init", "--dir", str(d), "--force"], home, stdin="\n\n\n")
    assert r.returncode == 0, r.stderr
    assert "[example.com]" in r.stdout
    assert "Cloudflare API token" not in r.stdout + r.stderr
    cfg = load_config(d / "homeport.yaml")
    assert (cfg.domain, cfg.email, cfg.git.url) == ("example.com", "me@example.com", GIT)
    assert opened(d / "cluster", psec.AUTHENTIK_DB, home) == db_before
    assert opened(d / "cluster", psec.DDNS_TOKEN, home) == {"api-token": TOKEN.encode()}


def test_repo_cert_from_another_key_blocks_plain_init(
    tmp_path: Path, home: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    d = tmp_path / "repo"
    d.mkdir()
    (d / "sealing-cert.pem").write_text("someone else's certificate\n")
    r = call(init_args(d, token_file), home)
    assert r.returncode == 2
    assert "belongs to a key pair that is not in" in r.stderr
    assert sorted(p.name for p in d.iterdir()) == ["sealing-cert.pem"]


def test_bad_flag_in_a_real_process(tmp_path: Path, token_file: Path) -> None:
    # The matrix below runs in-process; this proves the real process behaves the same.
    args = init_args(tmp_path / "repo", token_file)
    args[args.index("me@example.com")] = "bad"
    r = run(args, tmp_path / "home")
    assert r.returncode == 2
    assert r.stderr == 'error: --email: "bad" is not a valid e-mail address\n'
    assert not (tmp_path / "repo").exists() and not (tmp_path / "home").exists()


LONG = ".".join(["a" * 63] * 4) + ".com"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--domain", "exa mple.com", "--domain: "),
        ("--domain", "-bad.com", "--domain: "),
        ("--domain", "example", "--domain: "),
        ("--domain", LONG, "--domain: domain is"),
        ("--email", "not-an-email", "--email: "),
        ("--email", "a@b@c", "--email: "),
        ("--git-url", "ftp:/x", "--git-url: "),
        ("--domain", None, "--domain is required with --non-interactive"),
        ("--email", None, "--email is required with --non-interactive"),
        ("--git-url", None, "--git-url is required with --non-interactive"),
        ("--cloudflare-token-file", None, "--cloudflare-token-file is required"),
        ("--cloudflare-token-file", "/nonexistent/token", "--cloudflare-token-file: /nonexistent"),
        ("--cloudflare-token-file", "EMPTY", "is empty"),
        ("--cloudflare-token-file", "TWO-WORDS", "single word"),
        ("--dir", "FILE", "is not a directory"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(
    tmp_path: Path,
    token_file: Path,
    call: Callable[..., Result],
    flag: str,
    value: str | None,
    message: str,
) -> None:
    home = tmp_path / "home"
    d = tmp_path / "repo"
    args = init_args(d, token_file)
    if value == "EMPTY":
        value = str(tmp_path / "empty")
        Path(value).write_text("\n")
    elif value == "TWO-WORDS":
        value = str(tmp_path / "two")
        Path(value).write_text("two words\n")
    elif value == "FILE":
        value = str(tmp_path / "a-file")
        Path(value).write_text("")
        d = Path(value)
    i = args.index(flag)
    if value is None:
        del args[i : i + 2]
    else:
        args[i + 1] = value
    r = call(args, home)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert message in lines[0]
    assert TOKEN not in r.stderr
    assert not home.exists()
    assert not d.exists() or d.is_file()


def test_secret_set_list_seal_unseal(
    tmp_path: Path, home: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    d = tmp_path / "repo"
    assert call(init_args(d, token_file), home).returncode == 0
    cert_file = tmp_path / "ca.pem"
    cert_file.write_text("-----BEGIN CERTIFICATE-----\nfile-secret-content-xyz\n")
    r = call(
        [
            "secret", "set", "notes-env", "--namespace", "notes",
            "--from-literal", "PASSWORD=lit-secret-value-123",
            "--from-file", f"ca.pem={cert_file}",
            "--scope", "namespace-wide",
        ],
        home,
        cwd=d,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    path = d / "cluster" / "secrets" / "notes" / "notes-env.yaml"
    assert "created" in r.stdout and str(path.relative_to(d)) in r.stdout
    key = private_key(home / sealing.KEY_FILE)
    assert sealing.unseal(secretstore.read_sealed(path), [key]) == {
        "PASSWORD": b"lit-secret-value-123",
        "ca.pem": cert_file.read_bytes(),
    }
    # set again replaces it (that is its job).
    r = call(
        ["secret", "set", "notes-env", "-n", "notes", "--from-literal", "PASSWORD=v2-secret-value"],
        home,
        cwd=d,
    )
    assert r.returncode == 0 and "replaced" in r.stdout
    assert sealing.unseal(secretstore.read_sealed(path), [key]) == {"PASSWORD": b"v2-secret-value"}

    r = call(["secret", "list", "-c", str(d / "homeport.yaml"), "--output", "json"], home)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    notes = next(s for s in listed if s["namespace"] == "notes")
    assert notes == {
        "namespace": "notes",
        "name": "notes-env",
        "keys": ["PASSWORD"],
        "scope": "strict",
        "type": "Opaque",
        "path": str(path),
    }
    assert len(listed) == 5
    r = call(["secret", "list", "--tree", str(d / "cluster")], home)
    assert r.returncode == 0
    assert "notes-env" in r.stdout and "PASSWORD" in r.stdout
    assert "v2-secret-value" not in r.stdout

    # unseal: keys only by default, the Secret with --show (and a warning).
    r = call(["unseal", str(path)], home)
    assert r.returncode == 0, r.stderr
    assert "PASSWORD" in r.stdout and "v2-secret-value" not in r.stdout
    r = call(["unseal", str(path), "--key", str(home / sealing.KEY_FILE), "--show"], home)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr
    secret = yamlio.load(r.stdout)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "notes-env"
    assert secret["data"] == {"PASSWORD": "djItc2VjcmV0LXZhbHVl"}

    # wrong key / not a key / not a sealed secret: exit 2, one line.
    other = tmp_path / "other.pem"
    other.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    proc = run(["unseal", str(path), "--key", str(other)], home)
    assert proc.returncode == 2
    assert "this key did not seal this secret" in proc.stderr
    r = call(["unseal", str(path), "--key", str(cert_file)], home)
    assert r.returncode == 2 and "not an unencrypted PEM private key" in r.stderr
    r = call(["unseal", str(d / "homeport.yaml")], home)
    assert r.returncode == 2 and "no SealedSecret" in r.stderr

    # seal prints to stdout only; --cert picks the certificate.
    r = call(
        ["seal", "--cert", str(d / "sealing-cert.pem"), "--name", "web", "--namespace", "apps",
         "--from-literal", "k=seal-secret-value", "--scope", "cluster-wide",
         "--type", "kubernetes.io/basic-auth"],
        tmp_path / "no-home",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    sealed = yamlio.load(r.stdout)
    assert sealing.sealed_scope(sealed) == "cluster-wide"
    assert sealed["spec"]["template"]["type"] == "kubernetes.io/basic-auth"
    assert sealing.unseal(sealed, [key]) == {"k": b"seal-secret-value"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seal", "--name", "web", "--namespace", "apps"], "at least one key"),
        (["seal", "--name", "Web", "--namespace", "apps", "--from-literal", "a=b"], "--name:"),
        (["seal", "--name", "web", "--namespace", "a_b", "--from-literal", "a=b"], "--namespace:"),
        (
            ["seal", "--name", "w", "--namespace", "a", "--from-literal", "a=b", "--scope", "x"],
            "--scope:",
        ),
        (["seal", "--name", "w", "--namespace", "a", "--from-literal", "sekrit"], "KEY=VALUE"),
        (
            ["seal", "--name", "w", "--namespace", "a", "--from-literal", "a=b", "--cert", "/nope"],
            "/nope",
        ),
        (["secret", "set", "w", "-n", "a", "--from-literal", "a=b"], "homeport.yaml: no such file"),
        (["secret", "list", "-o", "xml", "--tree", "."], "--output:"),
    ],
)
def test_cli_bad_input(
    tmp_path: Path, home: Path, call: Callable[..., Result], args: list[str], message: str
) -> None:
    r = call(args, home, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert "sekrit" not in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_seal_without_any_key_pair(tmp_path: Path, call: Callable[..., Result]) -> None:
    r = call(
        ["seal", "--name", "w", "--namespace", "a", "--from-literal", "a=b"], tmp_path / "empty"
    )
    assert r.returncode == 2
    assert "no sealing certificate" in r.stderr
    assert not (tmp_path / "empty").exists()  # seal never creates a key nobody backed up


def test_no_secret_value_is_written_in_plaintext(
    tmp_path: Path, token_file: Path, call: Callable[..., Result]
) -> None:
    """Every file init/secret set wrote, and every line they printed, is free of known values.

    init runs as a real process (a new key pair too); the commands after it in-process.
    """
    home = tmp_path / "home"
    d = tmp_path / "repo"
    outputs = []
    r = run(init_args(d, token_file), home)
    assert r.returncode == 0, r.stderr
    outputs.append(r.stdout + r.stderr)
    lit = "app-password-4f3e2d1c"
    file_value = b"-----BEGIN PRIVATE KEY-----\nfile-secret-0a1b2c3d4e\n"
    secret_file = tmp_path / "tls.key"
    secret_file.write_bytes(file_value)
    for args in (
        ["secret", "set", "app-env", "-n", "notes", "--from-literal", f"PW={lit}"],
        ["secret", "set", "tls", "-n", "notes", "--from-file", f"tls.key={secret_file}"],
        ["secret", "list"],
        ["unseal", "cluster/secrets/notes/app-env.yaml"],
    ):
        r2 = call(args, home, cwd=d)
        assert r2.returncode == 0, r2.stderr
        outputs.append(r2.stdout + r2.stderr)

    cfg = load_config(d / "homeport.yaml")
    tree = d / cfg.git.path
    known: dict[str, bytes | str] = {"cloudflare token": TOKEN, "literal": lit, "file": file_value}
    for ps in psec.platform_secrets(cfg):
        for k, v in opened(tree, ps, home).items():
            if k not in ("username", "bootstrap-email", "api-token"):  # not secret / already known
                known[f"{ps.name}.{k}"] = v
    assert len(known) == 3 + 4  # secret-key, bootstrap password and token, DB password
    files = [p for p in d.rglob("*") if p.is_file()]
    assert len(files) >= 8
    assert secretstore.find_plaintext([d], known) == []
    out = tmp_path / "outputs.txt"
    out.write_text("\n".join(outputs))
    assert secretstore.find_plaintext([out], known) == []
    # The scanner itself works on this data: a plain Secret would have been caught.
    leak = tmp_path / "leak.yaml"
    leak.write_text(
        yamlio.dump({"kind": "Secret", "data": {"PW": base64.b64encode(lit.encode()).decode()}})
    )
    assert secretstore.find_plaintext([leak], known)
