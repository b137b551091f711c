"""Backups do not fill their volume (issue 15, item 11): compressed, then pruned to N.

Real: pyrage (the age implementation homeport encrypts with), gzip and tar from the
standard library, the renderer, and for the command test the real kube-apiserver of
tests/cluster with ``homeport backup --keep`` in process. The alerts are proven with
the real promtool in tests/monitoring/promtool/backup.yaml and backup-age.yaml.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import tarfile
from pathlib import Path

import pyrage
import pytest

from homeport.cluster import backup as bk
from homeport.config import parse_config
from homeport.errors import UsageError
from homeport.gitops import render_tree
from homeport.platform.backup import cron_max_gap

from .apiserver import ApiServer
from .conftest import CliRun

RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def _sections(n: int) -> dict[str, list[dict[str, object]]]:
    # Repetitive YAML, like real Secrets and CRDs: compresses well.
    secrets = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"s{i}", "namespace": "authentik", "labels": {"a": "b"}},
            "type": "Opaque",
            "data": {"password": "cGFzc3dvcmQ=", "username": "YXV0aGVudGlr"},
        }
        for i in range(n)
    ]
    return {"secrets": secrets}


def test_archive_is_compressed_before_it_is_encrypted() -> None:
    ident = pyrage.x25519.Identity.generate()
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    plain = bk.pack(_sections(300), {"server": "s"}, when)
    blob = bk.seal(plain, bk.Key(recipients=(str(ident.to_public()),)))
    # Decrypt with age itself: the payload is a gzip stream holding the tar.
    inner = pyrage.decrypt(blob, [ident])
    assert inner[:2] == b"\x1f\x8b"
    assert gzip.decompress(inner) == plain
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(inner)), mode="r:") as tar:
        assert "manifest.json" in tar.getnames()
    # Negative control: the uncompressed archive is several times larger.
    raw = bk.encrypt(plain, bk.Key(recipients=(str(ident.to_public()),)))
    assert len(blob) * 4 < len(raw), (len(blob), len(raw))
    # Deterministic apart from age's random file key: same compressed payload.
    assert (
        pyrage.decrypt(bk.seal(plain, bk.Key(recipients=(str(ident.to_public()),))), [ident])
        == inner
    )


def test_old_uncompressed_archives_still_open(tmp_path: Path) -> None:
    ident = pyrage.x25519.Identity.generate()
    plain = bk.pack(_sections(3), {"server": "s"})
    old = tmp_path / "old.age"
    old.write_bytes(bk.encrypt(plain, bk.Key(recipients=(str(ident.to_public()),))))
    new = tmp_path / "new.age"
    new.write_bytes(bk.seal(plain, bk.Key(recipients=(str(ident.to_public()),))))
    key = bk.Key(identities=(str(ident),))
    assert bk.open_archive(old, key).sections == bk.open_archive(new, key).sections
    # A damaged gzip stream is one clear error, not a traceback.
    bad = tmp_path / "bad.age"
    bad.write_bytes(pyrage.encrypt(b"\x1f\x8b\x08\x00garbage", [ident.to_public()]))
    with pytest.raises(bk.BackupError, match="damaged"):
        bk.open_archive(bad, key)


def test_prune_keeps_the_newest_n_and_nothing_else(tmp_path: Path) -> None:
    stamps = [f"2026010{d}T023000Z" for d in range(1, 10)]
    for s in stamps:
        (tmp_path / f"homeport-{s}.age").write_bytes(b"x")
    # Not archives of this pattern: never touched.
    others = [
        "homeport-latest.age",
        "other-20260101T023000Z.age",
        "homeport-20260101T023000Z.age.tmp",
    ]
    for name in others:
        (tmp_path / name).write_bytes(b"y")
    gone = bk.prune_archives(tmp_path / "homeport-{timestamp}.age", 3)
    assert [p.name for p in gone] == [f"homeport-{s}.age" for s in stamps[:6]]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(others + [f"homeport-{s}.age" for s in stamps[6:]])
    assert bk.prune_archives(tmp_path / "homeport-{timestamp}.age", 3) == []
    with pytest.raises(UsageError, match="at least 1"):
        bk.prune_archives(tmp_path / "homeport-{timestamp}.age", 0)
    with pytest.raises(UsageError, match="timestamp"):
        bk.prune_archives(tmp_path / "homeport.age", 2)


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("30 2 * * *", 24),
        ("*/15 * * * *", 0.25),
        ("0 2,14 * * *", 12),
        ("0 3 * * 1-5", 72),  # Friday to Monday
        ("@weekly", 168),
        ("0 0 1 * *", 31 * 24),
        ("0 3 1 * 1", 7 * 24),  # day of month OR Monday, as cron reads it
    ],
)
def test_cron_max_gap(schedule: str, hours: float) -> None:
    assert cron_max_gap(schedule) == hours * 3600


def test_rendered_cronjob_keeps_n_and_alerts() -> None:
    text = f"""domain: example.com
email: a@example.com
git: {{url: "https://github.com/example/lab.git"}}
backup:
  platform:
    recipients: [{RECIPIENT}]
    schedule: "0 */6 * * *"
    keep: 4
"""
    tree = render_tree(parse_config(text))
    objs = {(o["kind"], o["metadata"]["name"]): o for _, o in tree.objects()}
    args = objs[("CronJob", "homeport-backup")]["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert args[args.index("--keep") + 1] == "4"
    rule = objs[("PrometheusRule", "homeport-backup")]
    exprs = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(exprs) == {"HomeportBackupFailed", "HomeportBackupTooOld"}
    assert "> 43200" in exprs["HomeportBackupTooOld"]  # twice six hours
    # Negative control: without monitoring there is no rule (its CRD would be missing).
    tree = render_tree(parse_config(text + "components: {monitoring: {enabled: false}}\n"))
    assert not [
        o
        for _, o in tree.objects()
        if o["kind"] == "PrometheusRule" and "backup" in o["metadata"]["name"]
    ]


def test_backup_command_keeps_the_newest(apiserver: ApiServer, cli: CliRun, tmp_path: Path) -> None:
    """`homeport backup --keep 2` against the real API server deletes older archives."""
    ident = pyrage.x25519.Identity.generate()
    for s in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z"):
        (tmp_path / f"hp-{s}.age").write_bytes(b"old")
    out = tmp_path / "hp-{timestamp}.age"
    code, text = cli(
        "backup", "--kubeconfig", str(apiserver.kubeconfig), "--out", str(out),
        "-r", str(ident.to_public()), "--keep", "2",
    )  # fmt: skip
    assert code == 0, text
    left = sorted(p.name for p in tmp_path.glob("hp-*.age"))
    assert len(left) == 2 and left[0] == "hp-20250103T000000Z.age", left
    assert text.count("deleted ") == 2
    archive = bk.open_archive(tmp_path / left[1], bk.Key(identities=(str(ident),)))
    assert archive.manifest["total"] == archive.total
    # Bad input: one clear line, exit 2, nothing written or deleted.
    code, text = cli(
        "backup", "--kubeconfig", str(apiserver.kubeconfig), "--out", str(tmp_path / "x.age"),
        "-r", str(ident.to_public()), "--keep", "2",
    )  # fmt: skip
    assert code == 2 and "{timestamp}" in text
    assert sorted(p.name for p in tmp_path.glob("*.age")) == left
