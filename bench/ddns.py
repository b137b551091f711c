"""DDNS controller benchmark against the Cloudflare emulator on loopback.

Prints: resident memory after 1,000 cycles, API calls per steady cycle (per name and type),
and the time from an address change to the record being updated, for the real loop
(``Controller.run``) with a short interval. Targets: <= 45 MiB RSS, 1 call per name and
type, <= interval + 5 s.

    .venv/bin/python bench/ddns.py [--cycles 1000] [--interval 2]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ddns.emulator import CloudflareEmulator, IPServer
from homeport.ddns.controller import Controller
from homeport.ddns.options import DdnsOptions, parse_provider

ZONE = "example.com"
OLD, NEW = "81.2.69.160", "81.2.69.161"


def rss_mib() -> float:
    """Current resident set size (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _servers(conn: Connection) -> None:
    """Child process: emulator and providers, driven by (command, arg) messages."""
    cf = CloudflareEmulator(ZONE).start()
    a, b = IPServer(OLD).start(), IPServer(OLD).start()
    conn.send((cf.url, a.base, b.base))
    while True:
        cmd, arg = conn.recv()
        if cmd == "answer":
            a.answer = b.answer = arg
            conn.send(None)
        elif cmd == "reset":
            cf.reset_calls()
            conn.send(None)
        elif cmd == "calls":
            conn.send([c.method for c in cf.calls])
        elif cmd == "contents":
            conn.send([r[2] for r in cf.snapshot()])
        else:
            break
    cf.stop()
    a.stop()
    b.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=2)
    ap.add_argument("--process-seconds", type=int, default=10)
    args = ap.parse_args()

    # The emulator runs in its own process so RSS below is the controller's alone.
    conn, child_conn = Pipe()
    child = Process(target=_servers, args=(child_conn,), daemon=True)
    child.start()
    api_url, trace_base, doh_base = conn.recv()

    def ask(cmd: str, arg: str | None = None) -> Any:
        conn.send((cmd, arg))
        return conn.recv()

    names = (ZONE, f"*.{ZONE}")
    opts = DdnsOptions(
        zone=ZONE,
        records=names,
        providers=(
            parse_provider(f"cloudflare.trace:{trace_base}/cdn-cgi/trace"),
            parse_provider(f"cloudflare.doh:{doh_base}/dns-query"),
        ),
        api_url=api_url,
        interval=args.interval,
        listen=("127.0.0.1", 0),
    )
    ctl = Controller(opts, "good-token")
    try:
        assert ctl.run_once().ok  # creates the records
        rss0 = rss_mib()
        t0 = time.perf_counter()
        for i in range(args.cycles):
            ctl.run_once()
            if i % 1000 == 999:
                ask("reset")  # keep the emulator's call log bounded
        elapsed = time.perf_counter() - t0
        gc.collect()
        rss = rss_mib()
        ask("reset")
        ctl.run_once()
        calls = ask("calls")
        pairs = len(names) * len(opts.families)
        writes = sum(1 for m in calls if m != "GET")
        print(
            f"cycles: {args.cycles} in {elapsed:.1f}s ({elapsed / args.cycles * 1000:.1f} ms/cycle)"
        )
        print(
            f"rss after {args.cycles} cycles: {rss:.1f} MiB (after the first cycle: {rss0:.1f} MiB)"
        )
        print(
            f"api calls per steady cycle: {len(calls)} for {pairs} name/type pairs = "
            f"{len(calls) / pairs:.2f} per name and type, writes: {writes}"
        )

        # Address change while the real loop runs with a short interval.
        stop = threading.Event()
        loop = threading.Thread(target=ctl.run, args=(stop,), daemon=True)
        loop.start()
        time.sleep(0.5)
        changed = time.monotonic()
        ask("answer", NEW)
        updated = None
        deadline = changed + args.interval + 30
        while time.monotonic() < deadline:
            if all(c == NEW for c in ask("contents")):
                updated = time.monotonic()
                break
            time.sleep(0.01)
        stop.set()
        loop.join(timeout=10)
        if updated is None:
            print("address change: records NOT updated within interval + 30 s")
        else:
            print(
                f"address change to record updated: {updated - changed:.2f}s "
                f"(interval {args.interval}s, target <= {args.interval + 5}s)"
            )

        # The same controller as the container runs it: the whole `homeport` CLI process.
        env = {**os.environ, "CLOUDFLARE_API_TOKEN": "good-token"}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        cmd = [sys.executable, "-c", "from homeport.cli import main; main()", "ddns", "run"]
        cmd += ["--zone", ZONE, "--api-url", api_url, "--interval", "1s", "--listen", "127.0.0.1:0"]
        cmd += ["--ip-provider", f"cloudflare.trace:{trace_base}/cdn-cgi/trace"]
        cmd += ["--ip-provider", f"cloudflare.doh:{doh_base}/dns-query"]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        time.sleep(args.process_seconds)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        proc_rss = int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1])
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        print(
            f"rss of a `homeport ddns run` process after ~{args.process_seconds} cycles: "
            f"{proc_rss / 1024:.1f} MiB (exit on SIGTERM: {code})"
        )
    finally:
        ctl.close()
        conn.send(("quit", None))
        child.join(timeout=10)


if __name__ == "__main__":
    main()
