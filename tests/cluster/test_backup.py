"""Backup from the shared API server; restore into a second, fresh one; compare.

Tests here run in file order against one fresh target: the broken-archive tests first
(each proves the target is still empty), the real restore last.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

from homeport import sealing
from homeport.cluster import backup as bk
from homeport.cluster.kube import connect, identity

from . import sample_platform
from .apiserver import ApiServer
from .conftest import CliRun


@dataclass
class Backup:
    path: Path
    key_file: Path
    sections: dict[str, list[dict]]


@pytest.fixture(scope="module")
def made(
    tmp_path_factory: pytest.TempPathFactory, apiserver: ApiServer, session_home: Path
) -> Backup:
    d = tmp_path_factory.mktemp("backup")
    pair, _ = sealing.ensure_keypair(session_home)
    with connect(apiserver.kubeconfig) as k:
        sample_platform.populate(k, pair)
        sections = bk.collect(k)
    ident = pyrage.x25519.Identity.generate()
    key_file = d / "key.txt"
    key_file.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    out = d / "platform.age"
    with connect(apiserver.kubeconfig) as k:
        bk.backup(k, out, bk.Key(recipients=bk.read_recipients(key_file)))
    return Backup(out, key_file, sections)


@pytest.fixture(scope="module")
def target() -> Iterator[ApiServer]:
    srv = ApiServer().start()
    try:
        yield srv
    finally:
        srv.stop()


Restore = Callable[..., tuple[int, str]]


@pytest.fixture
def restore(target: ApiServer, cli: CliRun) -> Restore:
    return lambda archive, *extra: cli(
        "restore", str(archive), "--kubeconfig", str(target.kubeconfig), *extra
    )


def assert_empty(target: ApiServer) -> None:
    with connect(target.kubeconfig) as k:
        assert bk.existing_install(k) == []
        assert (
            k.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "applications.argoproj.io")
            is None
        )
        assert {n["metadata"]["name"] for n in k.list_objects("v1", "Namespace")} == {
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
        }


def test_archive_is_encrypted_private_and_complete(made: Backup) -> None:
    blob = made.path.read_bytes()
    assert blob.startswith(b"age-encryption.org/v1\n")
    assert stat.S_IMODE(os.stat(made.path).st_mode) == 0o600
    # No secret value appears in the file in the clear.
    for s in made.sections["secrets"]:
        for v in (s.get("data") or {}).values():
            assert v.encode() not in blob
    archive = bk.open_archive(made.path, bk.Key(identities=bk.read_identities(made.key_file)))
    assert archive.sections == made.sections
    m = archive.manifest
    assert m["total"] == sum(len(v) for v in made.sections.values())
    assert m["counts"]["Application"] == len(made.sections["applications"])
    assert len(archive.sections["sealing-keys"]) == 1
    assert {s["metadata"]["name"] for s in archive.sections["secrets"]} >= {
        "cloudflare-api-token",
        "authentik-secrets",
        "wildcard-tls",
        "argocd-secret",
    }
    assert archive.sections["applications"][-1]["metadata"]["name"] == "root"
    for objs in archive.sections.values():
        for o in objs:
            assert "status" not in o
            assert not {"uid", "resourceVersion", "managedFields", "creationTimestamp"} & set(
                o["metadata"]
            )


def test_wrong_key_applies_nothing(
    made: Backup, target: ApiServer, tmp_path: Path, restore: Restore
) -> None:
    other = tmp_path / "other.txt"
    other.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    code, out = restore(made.path, "--identity", str(other))
    assert code == 2
    assert out.strip() == "error: cannot decrypt the backup: it was not encrypted to this key"
    assert_empty(target)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_archive_applies_nothing(
    made: Backup, target: ApiServer, tmp_path: Path, damage: str, restore: Restore
) -> None:
    blob = bytearray(made.path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) * 2 // 3]
    else:
        blob[len(blob) // 2] ^= 0x01
    bad = tmp_path / "bad.age"
    bad.write_bytes(bytes(blob))
    code, out = restore(bad, "--identity", str(made.key_file))
    assert code == 2
    assert out.strip() == "error: cannot decrypt the backup: the file is truncated or was altered"
    assert_empty(target)


def test_inner_manifest_mismatch_applies_nothing(
    made: Backup, target: ApiServer, tmp_path: Path, restore: Restore
) -> None:
    ident = bk.read_identities(made.key_file)
    plain = bk.decrypt(made.path.read_bytes(), bk.Key(identities=ident))
    # Re-pack with one Secret changed but the manifest's sums kept: encrypted validly.
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(plain)) as src, tarfile.open(fileobj=buf, mode="w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.endswith("-secrets.yaml"):
                data = data.replace(b"data:", b"data:\n  injected: ZXZpbA==", 1)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    recipient = pyrage.x25519.Identity.from_str(ident[0]).to_public()
    bad = tmp_path / "tampered.age"
    bad.write_bytes(pyrage.encrypt(buf.getvalue(), [recipient]))
    code, out = restore(bad, "--identity", str(made.key_file))
    assert code == 2
    assert out.strip() == "error: section secrets does not match its SHA-256 in the manifest"
    assert_empty(target)


def test_passphrase_round_trip_and_wrong_passphrase(
    target: ApiServer, tmp_path: Path, restore: Restore
) -> None:
    # A small archive: age's scrypt makes every passphrase operation take seconds.
    plain = bk.pack({"secrets": []}, {"server": "test"})
    blob = bk.encrypt(plain, bk.Key(passphrase="correct horse"))
    path = tmp_path / "small.age"
    bk.write_private(path, blob)
    wrong = tmp_path / "wrong"
    wrong.write_text("battery staple\n")
    code, out = restore(path, "--passphrase-file", str(wrong))
    assert code == 2
    wanted = "wrong passphrase, or the file is truncated or was altered"
    assert out.strip() == f"error: cannot decrypt the backup: {wanted}"
    right = tmp_path / "right"
    right.write_text("correct horse\n")
    archive = bk.open_archive(path, bk.Key(passphrase="correct horse"))
    assert archive.total == 0 and archive.manifest["source"] == {"server": "test"}
    code, out = restore(path, "--identity", str(right))
    assert code == 2 and "no age identity" in out
    assert_empty(target)


def test_dry_run_restore_stores_nothing(made: Backup, target: ApiServer, restore: Restore) -> None:
    code, out = restore(made.path, "--identity", str(made.key_file), "--dry-run")
    assert code == 0, out
    assert "dry run: nothing changed" in out
    assert_empty(target)


def test_restore_into_fresh_cluster_loses_nothing(
    made: Backup, target: ApiServer, restore: Restore
) -> None:
    code, out = restore(made.path, "--identity", str(made.key_file))
    assert code == 0, out
    total = sum(len(v) for v in made.sections.values())
    assert "restored " in out
    with connect(target.kubeconfig) as k:
        missing, different = [], []
        for objs in made.sections.values():
            for o in objs:
                md = o["metadata"]
                got = k.get(o["apiVersion"], o["kind"], md["name"], md.get("namespace"))
                if got is None:
                    missing.append(identity(o))
                elif bk.strip(got) != o:
                    different.append(identity(o))
        assert missing == [] and different == []
        assert total > 50
        # Argo CD itself is installed from the pinned manifest.
        assert k.get("apps/v1", "Deployment", "argocd-server", "argocd") is not None
        # And the backup of the restored cluster holds the same objects.
        again = bk.collect(k)
    assert {s: [identity(o) for o in v] for s, v in again.items()} == {
        s: [identity(o) for o in v] for s, v in made.sections.items()
    }


def test_restore_refuses_non_empty_cluster_without_force(
    made: Backup, target: ApiServer, restore: Restore
) -> None:
    code, out = restore(made.path, "--identity", str(made.key_file))
    assert code == 1
    assert "the cluster is not empty (namespace argocd" in out and "--force" in out
    code, out = restore(made.path, "--identity", str(made.key_file), "--force")
    assert code == 0, out
    steps = [ln for ln in out.splitlines() if ": applied " in ln]
    assert steps and all(": 0 created, 0 configured" in ln for ln in steps), out


def test_backup_command_writes_an_archive(
    apiserver: ApiServer, cli: CliRun, tmp_path: Path
) -> None:
    ident = pyrage.x25519.Identity.generate()
    out = tmp_path / "cli-{timestamp}.age"
    code, text = cli(
        "backup",
        "--kubeconfig",
        str(apiserver.kubeconfig),
        "--out",
        str(out),
        "-r",
        str(ident.to_public()),
    )
    assert code == 0, text
    written = list(tmp_path.glob("cli-2*.age"))
    assert len(written) == 1 and f"wrote {written[0]}" in text
    archive = bk.open_archive(written[0], bk.Key(identities=(str(ident),)))
    assert archive.sections["sealing-keys"] and archive.manifest["total"] == archive.total
