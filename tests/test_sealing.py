"""The sealing core: key pair on disk, the hybrid format, scope labels, failure modes."""

from __future__ import annotations

import base64
import copy
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport import sealing
from homeport.errors import SealError, UsageError


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> sealing.KeyPair:
    kp, created = sealing.ensure_keypair(tmp_path_factory.mktemp("home") / "homeport")
    assert created
    return kp


@pytest.fixture(scope="module")
def key(pair: sealing.KeyPair) -> rsa.RSAPrivateKey:
    # Loading a 4096-bit PEM runs a slow consistency check: load it once per module.
    return pair.private_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    # Any other RSA key must fail to open; 2048 bits keeps the fixture quick.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_keypair_files_modes_and_shape(pair: sealing.KeyPair) -> None:
    assert stat.S_IMODE(pair.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.cert_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(pair.key_path.parent.stat().st_mode) & 0o077 == 0
    priv = pair.private_key()
    assert priv.key_size == 4096
    cert = pair.certificate()
    pub = cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    assert pub.public_numbers() == priv.public_key().public_numbers()
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert days >= 3650


def test_ensure_keypair_is_idempotent(pair: sealing.KeyPair) -> None:
    before = pair.key_path.read_bytes()
    again, created = sealing.ensure_keypair(pair.key_path.parent)
    assert not created
    assert again.key_path.read_bytes() == before


def test_half_a_pair_is_never_replaced(tmp_path: Path, pair: sealing.KeyPair) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / sealing.CERT_FILE).write_bytes(pair.cert_path.read_bytes())
    with pytest.raises(SealError, match=r"sealing-key\.pem: missing while its pair exists"):
        sealing.ensure_keypair(home)
    assert not (home / sealing.KEY_FILE).exists()


def test_home_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOMEPORT_HOME", str(tmp_path / "x"))
    assert sealing.home_dir() == tmp_path / "x"
    monkeypatch.delenv("HOMEPORT_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert sealing.home_dir() == tmp_path / "cfg" / "homeport"


@pytest.mark.parametrize("scope", sealing.SCOPES)
def test_round_trip_every_scope(
    pair: sealing.KeyPair, key: rsa.RSAPrivateKey, scope: sealing.Scope
) -> None:
    data = {"password": b"s3cr3t-value", "bin": bytes(range(256)), "empty": b""}
    sealed = sealing.seal_secret(pair.certificate(), "web", "apps", data, scope=scope)
    assert sealing.sealed_scope(sealed) == scope
    assert sealing.unseal(sealed, [key]) == data


def test_sealed_object_shape(pair: sealing.KeyPair) -> None:
    sealed = sealing.seal_secret(
        pair.certificate(),
        "db",
        "authentik",
        {"b": b"2", "a": b"1"},
        scope="namespace-wide",
        secret_type="kubernetes.io/basic-auth",
        labels={"z": "1", "a": "2"},
    )
    assert sealed["apiVersion"] == "bitnami.com/v1alpha1"
    assert sealed["kind"] == "SealedSecret"
    ann = {"sealedsecrets.bitnami.com/namespace-wide": "true"}
    # The controller reads the scope from the SealedSecret's own metadata.
    assert sealed["metadata"] == {"name": "db", "namespace": "authentik", "annotations": ann}
    tmpl = sealed["spec"]["template"]
    assert tmpl["type"] == "kubernetes.io/basic-auth"
    assert tmpl["metadata"]["annotations"] == ann
    assert list(tmpl["metadata"]["labels"]) == ["a", "z"]
    assert list(sealed["spec"]["encryptedData"]) == ["a", "b"]
    blob = base64.b64decode(sealed["spec"]["encryptedData"]["a"])
    # uint16 length prefix = 512 (RSA-4096 ciphertext), then 1 byte + 16-byte GCM tag.
    assert blob[:2] == b"\x02\x00"
    assert len(blob) == 2 + 512 + 1 + 16


def test_fresh_session_key_per_value(pair: sealing.KeyPair) -> None:
    a = sealing.seal_secret(pair.certificate(), "s", "ns", {"k": b"same"})
    b = sealing.seal_secret(pair.certificate(), "s", "ns", {"k": b"same"})
    assert a["spec"]["encryptedData"]["k"] != b["spec"]["encryptedData"]["k"]


def test_no_data_is_refused(pair: sealing.KeyPair) -> None:
    with pytest.raises(UsageError, match="at least one key"):
        sealing.seal_secret(pair.certificate(), "s", "ns", {})


def _moved(sealed: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    out = copy.deepcopy(sealed)
    out["metadata"]["name"], out["metadata"]["namespace"] = name, namespace
    return out


@pytest.mark.parametrize(
    ("scope", "name", "namespace", "opens"),
    [
        ("strict", "other", "apps", False),
        ("strict", "web", "other", False),
        ("namespace-wide", "other", "apps", True),
        ("namespace-wide", "web", "other", False),
        ("cluster-wide", "other", "elsewhere", True),
    ],
)
def test_scope_label_binds_name_and_namespace(
    pair: sealing.KeyPair,
    key: rsa.RSAPrivateKey,
    scope: sealing.Scope,
    name: str,
    namespace: str,
    opens: bool,
) -> None:
    sealed = sealing.seal_secret(pair.certificate(), "web", "apps", {"k": b"v"}, scope=scope)
    moved = _moved(sealed, name, namespace)
    if opens:
        assert sealing.unseal(moved, [key]) == {"k": b"v"}
    else:
        with pytest.raises(SealError, match="this key did not seal this secret"):
            sealing.unseal(moved, [key])


def test_dropping_the_scope_annotation_breaks_it(
    pair: sealing.KeyPair, key: rsa.RSAPrivateKey
) -> None:
    sealed = sealing.seal_secret(
        pair.certificate(), "web", "apps", {"k": b"v"}, scope="cluster-wide"
    )
    del sealed["metadata"]["annotations"]
    with pytest.raises(SealError):
        sealing.unseal(sealed, [key])


def test_wrong_key(
    pair: sealing.KeyPair, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    sealed = sealing.seal_secret(pair.certificate(), "web", "apps", {"k": b"v"})
    with pytest.raises(SealError, match="this key did not seal this secret"):
        sealing.unseal(sealed, [other_key])
    # The controller tries every key it has; so does unseal.
    assert sealing.unseal(sealed, [other_key, key]) == {"k": b"v"}


def _with_blob(sealed: dict[str, Any], blob: bytes) -> dict[str, Any]:
    out = copy.deepcopy(sealed)
    out["spec"]["encryptedData"]["k"] = base64.b64encode(blob).decode()
    return out


def test_truncated_and_altered_values(pair: sealing.KeyPair, key: rsa.RSAPrivateKey) -> None:
    sealed = sealing.seal_secret(pair.certificate(), "web", "apps", {"k": b"value"})
    blob = base64.b64decode(sealed["spec"]["encryptedData"]["k"])
    keys = [key]
    for cut in (b"", blob[:1], blob[:300], blob[: 2 + 512 + 10]):
        with pytest.raises(SealError, match="truncated"):
            sealing.unseal(_with_blob(sealed, cut), keys)
    for pos in (5, 2 + 512 + 1, len(blob) - 1):  # RSA part, AES body, GCM tag
        altered = bytearray(blob)
        altered[pos] ^= 0x01
        with pytest.raises(SealError, match="this key did not seal this secret"):
            sealing.unseal(_with_blob(sealed, bytes(altered)), keys)
    bad = copy.deepcopy(sealed)
    bad["spec"]["encryptedData"]["k"] = "not base64!"
    with pytest.raises(SealError, match="not valid base64"):
        sealing.unseal(bad, keys)
    with pytest.raises(SealError, match="not a SealedSecret"):
        sealing.unseal({"kind": "Secret"}, keys)


def test_key_and_cert_loading_errors(tmp_path: Path, pair: sealing.KeyPair) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(UsageError, match="not an unencrypted PEM private key"):
        sealing.load_private_key(junk)
    with pytest.raises(UsageError, match="cannot read private key"):
        sealing.load_private_key(tmp_path / "missing.pem")
    with pytest.raises(UsageError, match="not a PEM certificate"):
        sealing.load_cert(junk)
    with pytest.raises(UsageError, match="not a PEM certificate"):
        sealing.load_cert(pair.key_path)
    with pytest.raises(UsageError, match="cannot read certificate"):
        sealing.load_cert(tmp_path / "missing.pem")
