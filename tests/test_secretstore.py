"""The sealed secrets folder, the plaintext guard and the plaintext scanner."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from configs import config
from homeport import sealing, secretstore, yamlio
from homeport.config import HomeportConfig
from homeport.errors import PlaintextSecretError, SealError, UsageError
from homeport.platform import secrets as psec
from keys import write_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> sealing.KeyPair:
    return write_pair(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def key(pair: sealing.KeyPair) -> rsa.RSAPrivateKey:
    return pair.private_key()


@pytest.fixture(scope="module")
def cfg() -> HomeportConfig:
    return config(file="homeport.yaml", email="me@example.com", git_url="https://example.com/r.git")


def test_write_read_and_list(tmp_path: Path, pair: sealing.KeyPair) -> None:
    cert = pair.certificate()
    s1 = sealing.seal_secret(
        cert, "app-env", "notes", {"B": b"x", "A": b"y"}, scope="namespace-wide"
    )
    s2 = sealing.seal_secret(
        cert, "db", "alpha", {"password": b"z"}, secret_type="kubernetes.io/basic-auth"
    )
    p1, st1 = secretstore.write_sealed(tmp_path, s1)
    p2, _ = secretstore.write_sealed(tmp_path, s2)
    assert p1 == tmp_path / "secrets" / "notes" / "app-env.yaml"
    assert st1 == "created"
    assert yamlio.load(p1.read_text()) == s1
    assert secretstore.read_sealed(p1) == s1
    listed = secretstore.list_secrets(tmp_path)
    assert [(s.namespace, s.name) for s in listed] == [("alpha", "db"), ("notes", "app-env")]
    assert listed[0].type == "kubernetes.io/basic-auth"
    assert listed[1].keys == ("A", "B")
    assert listed[1].scope == "namespace-wide"
    assert listed[1].as_dict()["path"] == str(p1)
    # No temporary files are left behind.
    assert sorted(p.name for p in p1.parent.iterdir()) == ["app-env.yaml"]
    assert p2.exists()


def test_list_of_missing_tree_is_empty(tmp_path: Path) -> None:
    assert secretstore.list_secrets(tmp_path / "nope") == []


def test_list_rejects_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "secrets" / "ns" / "x.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("kind: ConfigMap\n")
    with pytest.raises(UsageError, match=r"x\.yaml: not a SealedSecret"):
        secretstore.list_secrets(tmp_path)


def test_no_silent_overwrite(tmp_path: Path, pair: sealing.KeyPair) -> None:
    cert = pair.certificate()
    s1 = sealing.seal_secret(cert, "web", "ns", {"k": b"1"})
    s2 = sealing.seal_secret(cert, "web", "ns", {"k": b"2"})
    path, _ = secretstore.write_sealed(tmp_path, s1)
    assert secretstore.write_sealed(tmp_path, s1) == (path, "unchanged")
    with pytest.raises(secretstore.SecretExistsError, match="already exists"):
        secretstore.write_sealed(tmp_path, s2)
    assert yamlio.load(path.read_text()) == s1
    assert secretstore.write_sealed(tmp_path, s2, replace=True) == (path, "replaced")
    assert yamlio.load(path.read_text()) == s2


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("../escape", "ns"),
        ("ok", "../up"),
        ("Upper", "ns"),
        ("ok", "a/b"),
        ("", "ns"),
        ("a..b", "ns"),
    ],
)
def test_names_cannot_leave_the_tree(tmp_path: Path, name: str, namespace: str) -> None:
    with pytest.raises(UsageError, match="not a valid"):
        secretstore.secret_path(tmp_path, namespace, name)


def test_write_refuses_plain_secrets_and_other_kinds(tmp_path: Path) -> None:
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "b"}}
    with pytest.raises(PlaintextSecretError, match="refusing to write Secret b/a"):
        secretstore.write_sealed(tmp_path, {**plain, "stringData": {"k": "v"}})
    with pytest.raises(UsageError, match=r"only bitnami\.com/v1alpha1 SealedSecrets"):
        secretstore.write_sealed(tmp_path, {"apiVersion": "v1", "kind": "ConfigMap"})
    assert not (tmp_path / "secrets").exists()


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "Secret", "data": {"k": "dmFsdWU="}},
        {"kind": "Secret", "stringData": {"k": "value"}},
        {"apiVersion": "v1", "kind": "List", "items": [{"kind": "Secret", "data": {"k": "eA=="}}]},
        {
            "apiVersion": "v1",
            "kind": "SecretList",
            "items": [{"kind": "Secret", "data": {"k": "eA=="}}],
        },
    ],
)
def test_guard_refuses_plaintext(obj: dict[str, object]) -> None:
    with pytest.raises(PlaintextSecretError) as err:
        secretstore.guard_no_plaintext(obj)
    assert err.value.exit_code == 2
    # The message names the object, never the value.
    assert "value" not in str(err.value).replace("values", "")
    assert "dmFsdWU=" not in str(err.value)


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "empty"}},
        {"apiVersion": "v1", "kind": "Secret", "data": {}},
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}},
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "spec": {}},
        "not an object",
        None,
    ],
)
def test_guard_lets_harmless_objects_pass(obj: object) -> None:
    secretstore.guard_no_plaintext(obj)


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"xyzw"])
def test_scanner_finds_raw_and_base64_at_any_alignment(tmp_path: Path, prefix: bytes) -> None:
    value = b"correct-horse-battery"
    raw = tmp_path / "raw.txt"
    raw.write_bytes(b"token: " + value + b"\n")
    enc = tmp_path / "enc.yaml"
    enc.write_bytes(b"data: " + base64.b64encode(prefix + value + b"-and-more") + b"\n")
    url = tmp_path / "url.txt"
    url.write_bytes(base64.urlsafe_b64encode(prefix + value))
    clean = tmp_path / "clean.txt"
    clean.write_bytes(b"nothing here\n")
    hits = secretstore.find_plaintext([tmp_path], {"pw": value})
    assert {(h.path.name, h.form) for h in hits} == {
        ("raw.txt", "raw"),
        ("enc.yaml", "base64"),
        ("url.txt", "base64"),
    }
    assert all(h.label == "pw" for h in hits)


def test_scanner_does_not_find_sealed_values(tmp_path: Path, pair: sealing.KeyPair) -> None:
    value = b"a-long-secret-value-0123456789"
    sealed = sealing.seal_secret(pair.certificate(), "s", "ns", {"k": value})
    secretstore.write_sealed(tmp_path, sealed)
    assert secretstore.find_plaintext([tmp_path], {"k": value}) == []


def test_parse_data(tmp_path: Path) -> None:
    f = tmp_path / "ca.crt"
    f.write_bytes(b"\x00binary\xff")
    data = secretstore.parse_data(["url=postgres://u:p@h/db?a=b", "empty="], [str(f), f"other={f}"])
    assert data == {
        "url": b"postgres://u:p@h/db?a=b",
        "empty": b"",
        "ca.crt": b"\x00binary\xff",
        "other": b"\x00binary\xff",
    }


@pytest.mark.parametrize(
    ("literals", "files", "message"),
    [
        (["no-equals-s3cret"], [], "--from-literal: expected KEY=VALUE"),
        (["=s3cret"], [], "--from-literal: expected KEY=VALUE"),
        (["a=1", "a=2"], [], 'key "a" is given twice'),
        (["bad key=1"], [], "not a valid secret key"),
        ([], ["k=/nonexistent/file"], "--from-file: /nonexistent/file: cannot read"),
    ],
)
def test_parse_data_errors(literals: list[str], files: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        secretstore.parse_data(literals, files)
    assert message in str(err.value)
    assert "s3cret" not in str(err.value)


def test_resolve_cert_order(
    tmp_path: Path, pair: sealing.KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMEPORT_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(UsageError, match="no sealing certificate"):
        secretstore.resolve_cert(None, tmp_path)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / sealing.CERT_FILE).write_bytes(pair.cert_path.read_bytes())
    assert secretstore.resolve_cert(None, repo).serial_number == pair.certificate().serial_number
    assert (
        secretstore.resolve_cert(pair.cert_path).serial_number == pair.certificate().serial_number
    )


def _values(path: Path, key: rsa.RSAPrivateKey) -> dict[str, bytes]:
    return sealing.unseal(secretstore.read_sealed(path), [key])


def test_platform_secrets_plan(
    tmp_path: Path, pair: sealing.KeyPair, key: rsa.RSAPrivateKey, cfg: HomeportConfig
) -> None:
    cert = pair.certificate()
    plan = secretstore.plan_platform_secrets(tmp_path, cfg, cert, key, "tok-1")
    assert [p.secret for p in plan] == psec.platform_secrets(cfg)
    assert {p.status for p in plan} == {"created"}
    assert not (tmp_path / "secrets").exists()  # planning writes nothing
    secretstore.write_planned(tmp_path, plan)
    db_path = secretstore.secret_path(tmp_path, "authentik", "authentik-db-credentials")
    ak_path = secretstore.secret_path(tmp_path, "authentik", "authentik-secrets")
    db, ak = _values(db_path, key), _values(ak_path, key)
    assert db["username"] == b"authentik"
    assert len(db["password"]) == 32
    assert len(ak["secret-key"]) >= 50
    assert ak["bootstrap-email"] == b"me@example.com"
    assert (
        secretstore.read_sealed(db_path)["spec"]["template"]["type"] == "kubernetes.io/basic-auth"
    )
    token_path = secretstore.secret_path(tmp_path, "cert-manager", "cloudflare-api-token")
    assert _values(token_path, key) == {"api-token": b"tok-1"}

    # Existing secrets: refused without force.
    with pytest.raises(secretstore.SecretExistsError, match="use --force"):
        secretstore.plan_platform_secrets(tmp_path, cfg, cert, key, "tok-1")
    # force without a token keeps everything byte for byte.
    before = {p: p.read_bytes() for p in (tmp_path / "secrets").rglob("*.yaml")}
    plan = secretstore.plan_platform_secrets(tmp_path, cfg, cert, key, None, force=True)
    assert {p.status for p in plan} == {"kept"}
    # force with a new token replaces the token, keeps generated passwords.
    plan = secretstore.plan_platform_secrets(tmp_path, cfg, cert, key, "tok-2", force=True)
    assert {p.secret.name: p.status for p in plan} == {
        "cloudflare-api-token": "replaced",
        "authentik-secrets": "kept",
        "authentik-db-credentials": "kept",
    }
    secretstore.write_planned(tmp_path, plan)
    assert _values(token_path, key) == {"api-token": b"tok-2"}
    assert db_path.read_bytes() == before[db_path]
    # rotate regenerates passwords.
    plan = secretstore.plan_platform_secrets(
        tmp_path, cfg, cert, key, None, force=True, rotate=True
    )
    secretstore.write_planned(tmp_path, plan)
    assert _values(db_path, key)["password"] != db["password"]
    assert _values(token_path, key) == {"api-token": b"tok-2"}


def test_platform_secrets_need_a_token_and_the_right_key(
    tmp_path: Path, pair: sealing.KeyPair, key: rsa.RSAPrivateKey, cfg: HomeportConfig
) -> None:
    cert = pair.certificate()
    assert secretstore.token_needed(tmp_path, cfg)
    with pytest.raises(UsageError, match="Cloudflare API token is needed"):
        secretstore.plan_platform_secrets(tmp_path, cfg, cert, key, None)
    secretstore.write_planned(
        tmp_path, secretstore.plan_platform_secrets(tmp_path, cfg, cert, key, "t")
    )
    assert not secretstore.token_needed(tmp_path, cfg)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SealError, match="this key did not seal this secret"):
        secretstore.plan_platform_secrets(tmp_path, cfg, cert, other, None, force=True)


def test_atomic_write_mode(tmp_path: Path) -> None:
    p = tmp_path / "a" / "b.txt"
    secretstore.atomic_write_text(p, "x", mode=0o600)
    assert p.read_text() == "x"
    assert os.stat(p).st_mode & 0o777 == 0o600


def test_public_grafana_gets_a_generated_admin_secret(
    tmp_path: Path, pair: sealing.KeyPair, key: rsa.RSAPrivateKey, cfg: HomeportConfig
) -> None:
    data = cfg.model_dump(mode="json", exclude_none=True)
    data["components"]["monitoring"]["auth"] = "public"
    public = HomeportConfig.model_validate(data)
    assert psec.GRAFANA_ADMIN not in psec.platform_secrets(cfg)
    plan = secretstore.plan_platform_secrets(tmp_path, public, pair.certificate(), key, "tok-1")
    assert psec.GRAFANA_ADMIN in [p.secret for p in plan]
    secretstore.write_planned(tmp_path, plan)
    values = _values(secretstore.secret_path(tmp_path, "monitoring", "grafana-admin"), key)
    assert values["admin-user"] == b"admin"
    assert len(values["admin-password"]) == 32
