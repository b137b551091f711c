"""Pure parts of the cluster package (no API server needed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from homeport.cluster import backup as bk
from homeport.cluster.bootstrap import read_repo_credentials, server_minor
from homeport.errors import UsageError


def test_strip_removes_server_managed_fields_only() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "n",
            "uid": "u",
            "resourceVersion": "5",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{}],
            "ownerReferences": [{"uid": "x"}],
            "labels": {"a": "b"},
            "annotations": {"c": "d"},
        },
        "type": "Opaque",
        "data": {"k": "dg=="},
        "status": {"x": 1},
    }
    assert bk.strip(obj) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "n",
            "labels": {"a": "b"},
            "annotations": {"c": "d"},
        },
        "type": "Opaque",
        "data": {"k": "dg=="},
    }


def test_pack_is_deterministic_and_verifies() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "b"}}
    one = bk.pack({"secrets": [secret]}, {"server": "s"}, when)
    assert one == bk.pack({"secrets": [secret]}, {"server": "s"}, when)
    archive = bk.unpack(one)
    assert archive.sections["secrets"] == [secret]
    assert archive.manifest["counts"] == {"Secret": 1}
    assert archive.manifest["created"] == "2026-01-02T03:04:05Z"
    with pytest.raises(bk.BackupError, match="not a homeport backup"):
        bk.unpack(b"\0" * 1024)


def test_foreign_file_and_missing_key_kind_are_clear() -> None:
    with pytest.raises(bk.BackupError, match="not age-encrypted"):
        bk.decrypt(b"PK\x03\x04 a zip", bk.Key(identities=("x",)))
    blob = bk.encrypt(
        b"x", bk.Key(recipients=(str(bk.pyrage.x25519.Identity.generate().to_public()),))
    )
    with pytest.raises(bk.BackupError, match="encrypted to an age key; give --identity"):
        bk.decrypt(blob, bk.Key(passphrase="p"))
    with pytest.raises(UsageError, match="not a valid age public key"):
        bk.encrypt(b"x", bk.Key(recipients=("age1nope",)))


def test_repo_credentials_file_forms(tmp_path: Path) -> None:
    f = tmp_path / "c"
    f.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")
    assert read_repo_credentials(f).ssh_private_key is not None
    f.write_text("username: u\npassword: hunter2\n")
    creds = read_repo_credentials(f)
    assert (creds.username, creds.password) == ("u", "hunter2")
    assert "hunter2" not in repr(creds)
    f.write_text("token: only\n")
    with pytest.raises(
        UsageError, match="expected an SSH private key, or YAML with username and password"
    ):
        read_repo_credentials(f)


@pytest.mark.parametrize(
    ("version", "minor"),
    [
        ({"major": "1", "minor": "36", "gitVersion": "v1.36.3"}, "1.36"),
        ({"major": "1", "minor": "35+", "gitVersion": "v1.35.2-eks-1"}, "1.35"),
        ({"gitVersion": "v1.34.0+k3s1"}, "1.34"),
        ({}, "unknown"),
    ],
)
def test_server_minor(version: dict[str, str], minor: str) -> None:
    assert server_minor(version) == minor
