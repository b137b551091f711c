"""Benchmark `homeport render`: the bundled example and a 1,000-app config.

Prints wall time (best of N) for rendering in memory and writing the tree, and the
peak resident memory of this process. Targets: example < 1 s, 1,000 apps < 10 s.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from homeport import yamlio
from homeport.config import load_config, parse_config
from homeport.gitops import render_tree, write_tree

ROOT = Path(__file__).resolve().parents[1]


def thousand_apps() -> str:
    data = yamlio.load((ROOT / "examples" / "minimal.yaml").read_text())
    data["apps"] = [
        {
            "name": f"app{i:04d}",
            "image": f"registry.example.org/team/app{i:04d}:1.{i % 17}.{i % 5}",
            "port": 8080,
            "replicas": 1 + i % 3,
            "auth": "sso" if i % 2 else "public",
            **({"storage": {"size": "1Gi"}, "replicas": 1} if i % 10 == 0 else {}),
        }
        for i in range(1000)
    ]
    return yamlio.dump(data)


def timed(label: str, fn: object, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<44} {best * 1000:9.1f} ms (best of {runs})")
    return best


def main() -> int:
    example = load_config(ROOT / "examples" / "homeport.yaml")
    big_text = thousand_apps()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ex = timed(
            "example: load config", lambda: load_config(ROOT / "examples" / "homeport.yaml"), 5
        )
        ex += timed(
            "example: render + write (fresh dir)",
            lambda: write_tree(render_tree(example), out / f"ex{time.perf_counter_ns()}"),
            5,
        )
        t_parse = timed("1,000 apps: parse + validate config", lambda: parse_config(big_text), 3)
        big = parse_config(big_text)
        files = len(render_tree(big).files)
        t_render = timed(
            f"1,000 apps: render in memory ({files} files)", lambda: render_tree(big), 3
        )
        t_write = timed(
            "1,000 apps: render + write (fresh dir)",
            lambda: write_tree(render_tree(big), out / f"big{time.perf_counter_ns()}"),
            3,
        )
        write_tree(render_tree(big), out / "again")
        t_again = timed(
            "1,000 apps: re-render, nothing changed",
            lambda: write_tree(render_tree(big), out / "again"),
            3,
        )
        cli = timed(
            "example: `homeport render --no-check` process",
            lambda: subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "homeport",
                    "render",
                    "--no-check",
                    "-c",
                    str(ROOT / "examples" / "homeport.yaml"),
                    "--out",
                    str(out / "cli"),
                ],
                check=True,
                capture_output=True,
            ),
            3,
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'example total (target < 1 s)':<44} {ex * 1000:9.1f} ms")
    print(f"{'1,000 apps total (target < 10 s)':<44} {(t_parse + t_write) * 1000:9.1f} ms")
    print(f"{'peak RSS':<44} {peak_mib:9.1f} MiB")
    _ = (t_render, t_again, cli)
    ok = ex < 1.0 and (t_parse + t_write) < 10.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
