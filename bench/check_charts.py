"""Time `homeport check` with and without `--charts` on the rendered examples.

    .venv/bin/python bench/check_charts.py [--runs 3] [--charts ../shared/charts]

Renders examples/homeport.yaml and examples/full-ha.yaml, seals the Secrets they need with a
throwaway key (as `homeport init` would), then runs `homeport check` as a separate process,
without and with `--charts` (every Helm Application expanded by the real Helm). Prints the
best of --runs for each. Needs Helm (scripts/build-tools.sh), HOMEPORT_CRD_DIR (default
../shared/crds) and the k8s.io/kubernetes module in the Go module cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.check.test_charts import _render  # noqa: E402


def _time(args: list[str], runs: int) -> tuple[float, int]:
    best, code = float("inf"), 0
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(args, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        code = r.returncode
    return best, code


def main() -> None:
    """Print the timings."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--charts", default=str(ROOT.parent / "shared" / "charts"))
    ns = ap.parse_args()
    os.environ.setdefault("HOMEPORT_CRD_DIR", str(ROOT.parent / "shared" / "crds"))
    os.environ.setdefault(
        "HOMEPORT_CHART_SCHEMA_DIR", str(ROOT.parent / "shared" / "chart-schemas")
    )
    for example in ("homeport", "full-ha"):
        with tempfile.TemporaryDirectory() as d:
            _render(example, Path(d))
            base = [sys.executable, "-m", "homeport", "check", d]
            plain, c1 = _time(base, ns.runs)
            charts, c2 = _time([*base, "--charts", ns.charts], ns.runs)
            print(
                f"{example:9s} check: {plain:6.2f} s (exit {c1})   "
                f"check --charts: {charts:6.2f} s (exit {c2})   best of {ns.runs}"
            )


if __name__ == "__main__":
    main()
