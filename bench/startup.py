"""Start-up of the `homeport` process: --version, --help, a verb's --help, and render.

Prints the best of N wall times per command (seconds). Targets (issue 16): --version,
--help and shell completion of a verb <= 0.15 s; render of the example (with its check)
<= 0.5 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOMEPORT = str(Path(sys.executable).with_name("homeport"))


def best(cmd: list[str], n: int = 5, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False, env=env)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    py = best([sys.executable, "-c", "pass"])
    print(f"python -c pass           {py:.3f} s (interpreter floor)")
    for args in (["--version"], ["--help"], ["render", "--help"]):
        print(f"homeport {' '.join(args):<15} {best([HOMEPORT, *args]):.3f} s")
    cases = (("homeport ch", "1", "a verb"), ("homeport check --st", "2", "an option"))
    for words, cword, what in cases:
        env = {**os.environ, "_HOMEPORT_COMPLETE": "complete_bash"}
        env.update(COMP_WORDS=words, COMP_CWORD=cword)
        print(f"complete {what:<16} {best([HOMEPORT], env=env):.3f} s  ({words!r}, bash)")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "homeport.yaml"
        shutil.copy(ROOT / "examples" / "homeport.yaml", cfg)
        t = best([HOMEPORT, "render", "--no-check", "-c", str(cfg), "-o", f"{tmp}/out"], 3)
        print(f"homeport render --no-check {t:.3f} s")


if __name__ == "__main__":
    main()
