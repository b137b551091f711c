"""Proof against the real implementation: homeport and kubeseal open each other's secrets.

kubeseal is built from its Go module at the pinned version by scripts/build-tools.sh
(into $HOMEPORT_TOOLS/bin, default ~/.cache/homeport-tools/bin). A missing binary fails
the suite: these tests are the reason the wire format can be trusted.
"""

from __future__ import annotations

import base64
import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport import sealing, yamlio
from homeport.errors import SealError
from homeport.versions import SEALED_SECRETS_VERSION
from keys import write_pair

DATA = {
    "password": b"p@ss w0rd=with/odd+chars",
    "multi": b"line one\nline two\n",
    "binary": bytes(range(256)),
    "unicode": "gr\u00fc\u00df dich \u2603".encode(),
}


def kubeseal_bin() -> Path:
    tools = Path(os.environ.get("HOMEPORT_TOOLS", "~/.cache/homeport-tools")).expanduser()
    exe = tools / "bin" / "kubeseal"
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is missing: run scripts/build-tools.sh (it builds kubeseal)")
    return exe


def kubeseal(args: list[str], stdin: bytes, home: Path) -> subprocess.CompletedProcess[bytes]:
    # HOME and KUBECONFIG point at nothing: these runs are offline and never touch a cluster.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(home / "none")}
    return subprocess.run(
        [str(kubeseal_bin()), *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def homeport(args: list[str], home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env["HOMEPORT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> sealing.KeyPair:
    return write_pair(tmp_path_factory.mktemp("hp-home"))


@pytest.fixture(scope="module")
def key(pair: sealing.KeyPair) -> rsa.RSAPrivateKey:
    return pair.private_key()


@pytest.fixture(scope="module")
def other_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p = tmp_path_factory.mktemp("other") / "other.pem"
    p.write_bytes(
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return p


def secret_doc(name: str, namespace: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def decoded(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def test_kubeseal_is_the_pinned_version(tmp_path: Path) -> None:
    r = kubeseal(["--version"], b"", tmp_path)
    assert r.returncode == 0
    assert SEALED_SECRETS_VERSION in r.stdout.decode()


@pytest.mark.parametrize("scope", sealing.SCOPES)
def test_kubeseal_opens_what_homeport_sealed(
    tmp_path: Path, pair: sealing.KeyPair, scope: sealing.Scope
) -> None:
    args = ["seal", "--name", "web-env", "--namespace", "apps", "--scope", scope]
    for k, v in DATA.items():
        f = tmp_path / k
        f.write_bytes(v)
        args += ["--from-file", f"{k}={f}"]
    hp = homeport(args, pair.key_path.parent)
    assert hp.returncode == 0, hp.stderr
    r = kubeseal(
        ["--recovery-unseal", "--recovery-private-key", str(pair.key_path), "-o", "yaml"],
        hp.stdout.encode(),
        tmp_path,
    )
    assert r.returncode == 0, r.stderr.decode()
    secret = yamlio.load(r.stdout.decode())
    assert secret["kind"] == "Secret"
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("web-env", "apps")
    assert decoded(secret) == DATA


@pytest.mark.parametrize("scope", sealing.SCOPES)
def test_homeport_opens_what_kubeseal_sealed(
    tmp_path: Path, pair: sealing.KeyPair, key: rsa.RSAPrivateKey, scope: sealing.Scope
) -> None:
    src = yamlio.dump(secret_doc("web-env", "apps", DATA)).encode()
    r = kubeseal(["--cert", str(pair.cert_path), "--scope", scope, "-o", "yaml"], src, tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    sealed = yamlio.load(r.stdout.decode())
    assert sealing.sealed_scope(sealed) == scope
    assert sealing.unseal(sealed, [key]) == DATA
    # ... and through the CLI, as a user recovering with the key would.
    f = tmp_path / "sealed.yaml"
    f.write_bytes(r.stdout)
    hp = homeport(["unseal", str(f), "--key", str(pair.key_path), "--show"], tmp_path / "nohome")
    assert hp.returncode == 0, hp.stderr
    assert decoded(yamlio.load(hp.stdout)) == DATA


@pytest.mark.parametrize("scope", sealing.SCOPES)
def test_kubeseal_raw_values_use_the_same_scope_label(
    tmp_path: Path, pair: sealing.KeyPair, key: rsa.RSAPrivateKey, scope: sealing.Scope
) -> None:
    value = tmp_path / "value"
    value.write_bytes(b"raw-value-\x00\xff")
    r = kubeseal(
        ["--raw", "--cert", str(pair.cert_path), "--scope", scope, "--name", "db",
         "--namespace", "team", "--from-file", str(value)],
        b"",
        tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    blob = base64.b64decode(r.stdout.strip())
    label = sealing.scope_label(scope, "team", "db")
    assert sealing.hybrid_decrypt(key, blob, label) == b"raw-value-\x00\xff"
    if scope != "cluster-wide":
        with pytest.raises(SealError, match="this key did not seal this secret"):
            sealing.hybrid_decrypt(key, blob, sealing.scope_label(scope, "other", "db"))


def test_wrong_key_fails_both_ways(
    tmp_path: Path, pair: sealing.KeyPair, other_key_file: Path
) -> None:
    sealed = sealing.seal_secret(pair.certificate(), "web", "apps", {"k": b"v"})
    r = kubeseal(
        ["--recovery-unseal", "--recovery-private-key", str(other_key_file), "-o", "yaml"],
        yamlio.dump(sealed).encode(),
        tmp_path,
    )
    assert r.returncode != 0
    assert b"v" not in r.stdout

    src = yamlio.dump(secret_doc("web", "apps", {"k": b"v"})).encode()
    k = kubeseal(["--cert", str(pair.cert_path), "-o", "yaml"], src, tmp_path)
    assert k.returncode == 0, k.stderr.decode()
    f = tmp_path / "sealed.yaml"
    f.write_bytes(k.stdout)
    hp = homeport(["unseal", str(f), "--key", str(other_key_file)], tmp_path / "nohome")
    assert hp.returncode == 2
    assert "this key did not seal this secret" in hp.stderr
    assert "Traceback" not in hp.stderr


def test_moved_or_damaged_secrets_fail_both_ways(
    tmp_path: Path, pair: sealing.KeyPair, key: rsa.RSAPrivateKey
) -> None:
    # homeport-sealed, strict, moved to another namespace: kubeseal refuses it.
    sealed = sealing.seal_secret(pair.certificate(), "web", "apps", {"k": b"v"})
    moved = copy.deepcopy(sealed)
    moved["metadata"]["namespace"] = "elsewhere"
    r = kubeseal(
        ["--recovery-unseal", "--recovery-private-key", str(pair.key_path), "-o", "yaml"],
        yamlio.dump(moved).encode(),
        tmp_path,
    )
    assert r.returncode != 0

    # kubeseal-sealed, then moved / truncated / altered: homeport refuses it.
    src = yamlio.dump(secret_doc("web", "apps", {"k": b"value"})).encode()
    k = kubeseal(["--cert", str(pair.cert_path), "-o", "yaml"], src, tmp_path)
    assert k.returncode == 0, k.stderr.decode()
    good = yamlio.load(k.stdout.decode())
    assert sealing.unseal(good, [key]) == {"k": b"value"}
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "other"
    with pytest.raises(SealError, match="this key did not seal this secret"):
        sealing.unseal(bad, [key])
    blob = base64.b64decode(good["spec"]["encryptedData"]["k"])
    bad = copy.deepcopy(good)
    bad["spec"]["encryptedData"]["k"] = base64.b64encode(blob[:100]).decode()
    with pytest.raises(SealError, match="truncated"):
        sealing.unseal(bad, [key])
    altered = bytearray(blob)
    altered[-3] ^= 0x80
    bad["spec"]["encryptedData"]["k"] = base64.b64encode(bytes(altered)).decode()
    with pytest.raises(SealError, match="this key did not seal this secret"):
        sealing.unseal(bad, [key])
