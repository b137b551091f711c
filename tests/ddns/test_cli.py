"""``homeport ddns once`` and ``homeport ddns run`` as real processes against the emulator."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from homeport.cli import main

from .conftest import IP_NEW, OWNER, ZONE, doh, trace
from .emulator import CloudflareEmulator, IPServer

IPF = Callable[..., IPServer]
MAIN = [sys.executable, "-c", "from homeport.cli import main; main()"]
SECRET = "good-token"


def homeport(
    *args: str, env: dict[str, str] | None = None, token: str | None = SECRET
) -> subprocess.CompletedProcess[str]:
    full = {
        k: v for k, v in os.environ.items() if not k.startswith(("HOMEPORT_DDNS_", "CLOUDFLARE_"))
    }
    full.pop("KUBERNETES_SERVICE_HOST", None)
    if token is not None:
        full["CLOUDFLARE_API_TOKEN"] = token
    full.update(env or {})
    return subprocess.run([*MAIN, *args], capture_output=True, text=True, env=full, timeout=60)


def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    env: dict[str, str] | None = None,
    token: str | None = SECRET,
) -> tuple[int, str, str]:
    """Run the real CLI entry point in-process (fast); returns (exit code, stdout, stderr)."""
    for k in list(os.environ):
        if k.startswith(("HOMEPORT_DDNS_", "CLOUDFLARE_")) or k == "KUBERNETES_SERVICE_HOST":
            monkeypatch.delenv(k)
    if token is not None:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(sys, "argv", ["homeport", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def providers(ip_server: IPF) -> list[str]:
    out: list[str] = []
    for spec in (trace(ip_server(IP_NEW)), doh(ip_server(IP_NEW))):
        out += ["--ip-provider", spec]
    return out


def test_once_fixes_dns_and_exits_0(cf: CloudflareEmulator, ip_server: IPF) -> None:
    p = homeport("ddns", "once", "--zone", ZONE, "--api-url", cf.url, *providers(ip_server))
    assert p.returncode == 0, p.stderr
    assert "DNS is right" in p.stdout
    assert f"A    {ZONE} {IP_NEW} created" in p.stdout
    assert cf.snapshot() == [(f"*.{ZONE}", "A", IP_NEW, OWNER), (ZONE, "A", IP_NEW, OWNER)]
    assert SECRET not in p.stdout + p.stderr


def test_once_dry_run_writes_nothing(
    cf: CloudflareEmulator,
    ip_server: IPF,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(
        monkeypatch,
        capsys,
        "ddns",
        "once",
        "--dry-run",
        "--zone",
        ZONE,
        "--record",
        "@",
        "--api-url",
        cf.url,
        *providers(ip_server),
    )
    assert code == 0, err
    assert "would-create" in out and "dry run: nothing written" in out
    assert cf.snapshot() == []
    assert [c.method for c in cf.calls] == ["GET", "GET"]


def test_once_revoked_token_exits_1_with_clear_message(
    cf: CloudflareEmulator,
    ip_server: IPF,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(
        monkeypatch,
        capsys,
        "ddns",
        "once",
        "--zone",
        ZONE,
        "--api-url",
        cf.url,
        *providers(ip_server),
        token="revoked",
    )
    assert code == 1
    assert f"error: Cloudflare token lacks Zone.DNS edit on {ZONE}" in err
    assert "Traceback" not in err and "revoked" not in out + err


def test_bad_input_exits_2_naming_the_option(
    cf: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = cli(
        monkeypatch,
        capsys,
        "ddns",
        "once",
        "--zone",
        ZONE,
        "--api-url",
        cf.url,
        "--ip-provider",
        "dig",
    )
    assert code == 2
    assert err.strip().splitlines() == [
        'error: --ip-provider: unknown provider "dig"; use cloudflare.trace, cloudflare.doh, '
        "ipify, url:<URL> or static:<IP>"
    ]
    code, _out, err = cli(
        monkeypatch, capsys, "ddns", "once", "--zone", ZONE, "--api-url", cf.url, token=None
    )
    assert code == 2
    assert "CLOUDFLARE_API_TOKEN" in err
    code, _out, err = cli(monkeypatch, capsys, "ddns", "once", "--zone", "not a zone", token=None)
    assert code == 2 and "--zone" in err
    code, _out, err = cli(monkeypatch, capsys, "ddns", "once", "--zone", ZONE, "--interval", "soon")
    assert code == 2 and err.startswith("error: --interval:")
    assert cf.count() == 0


def test_config_defaults_env_twins_and_token_file(
    cf: CloudflareEmulator,
    ip_server: IPF,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = tmp_path / "homeport.yaml"
    cfg.write_text(
        "domain: example.com\nemail: admin@example.com\ngit:\n  url: https://github.com/x/y.git\n"
        "cloudflare:\n  records: ['@', www]\n  ttl: 300\n"
    )
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    specs = [trace(ip_server(IP_NEW)), doh(ip_server(IP_NEW))]
    env = {
        "HOMEPORT_DDNS_API_URL": cf.url,
        "HOMEPORT_DDNS_IP_PROVIDER": " ".join(specs),
        "HOMEPORT_DDNS_TOKEN_FILE": str(token_file),
    }
    code, _out, err = cli(monkeypatch, capsys, "ddns", "once", "-c", str(cfg), env=env, token=None)
    assert code == 0, err
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER), (f"www.{ZONE}", "A", IP_NEW, OWNER)]
    assert {r["ttl"] for r in cf.records.values()} == {300}
    # A flag beats the config file.
    code, _out, err = cli(
        monkeypatch, capsys, "ddns", "once", "-c", str(cfg), "--record", "api", env=env, token=None
    )
    assert code == 0, err
    assert (f"api.{ZONE}", "A", IP_NEW, OWNER) in cf.snapshot()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_run_serves_probes_and_metrics_and_stops_on_sigterm(
    cf: CloudflareEmulator, ip_server: IPF
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_DDNS_")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env["CLOUDFLARE_API_TOKEN"] = SECRET
    proc = subprocess.Popen(
        [
            *MAIN,
            "ddns",
            "run",
            "--zone",
            ZONE,
            "--api-url",
            cf.url,
            "--interval",
            "1h",
            "--listen",
            f"127.0.0.1:{port}",
            *providers(ip_server),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        code, metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200
        assert 'homeport_ddns_record_changes_total{action="create"} 2.0' in metrics
        assert f'homeport_ddns_address_info{{address="{IP_NEW}",family="ipv4"}} 1.0' in metrics
        assert "homeport_ddns_consecutive_failures 0.0" in metrics
        assert (
            'homeport_ddns_api_requests_total{code="200",endpoint="dns_records.list"} 2.0'
            in metrics
        )
        assert (
            'homeport_ddns_detections_total{outcome="ok",provider="cloudflare.trace"} 1.0'
            in metrics
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.splitlines()]
    assert (
        lines[0]["msg"] == "ddns controller started"
        and lines[-1]["msg"] == "ddns controller stopped"
    )
    assert sum(1 for line in lines if line["msg"] == "record created") == 2
    assert SECRET not in out + err
    assert cf.snapshot() == [(f"*.{ZONE}", "A", IP_NEW, OWNER), (ZONE, "A", IP_NEW, OWNER)]


def test_zone_id_flag_and_env_twin_skip_the_zone_lookup(
    cf: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["ddns", "once", "--zone", ZONE, "--record", "@", "--api-url", cf.url]
    static = ["--ip-provider", f"static:{IP_NEW}"]
    # A token with Zone.DNS edit but no Zone.Zone read cannot find the zone by name ...
    code, _out, err = cli(monkeypatch, capsys, *base, *static, token="dns-only")
    assert code == 1 and "--zone-id" in err
    cf.reset_calls()
    # ... but works with the zone's ID, as a flag or as HOMEPORT_DDNS_ZONE_ID.
    code, out, err = cli(
        monkeypatch, capsys, *base, *static, "--zone-id", cf.zone_id, token="dns-only"
    )
    assert code == 0, err
    assert "DNS is right" in out
    cf.reset_calls()
    env = {"HOMEPORT_DDNS_ZONE_ID": cf.zone_id}
    code, out, err = cli(monkeypatch, capsys, *base, *static, env=env, token="dns-only")
    assert code == 0, err
    assert [c.method for c in cf.calls] == ["GET"]  # steady: one list, no zone lookup
    assert cf.snapshot() == [(ZONE, "A", IP_NEW, OWNER)]
    code, _out, err = cli(monkeypatch, capsys, *base, *static, "--zone-id", "not/an id")
    assert code == 2 and err.startswith("error: --zone-id:")
