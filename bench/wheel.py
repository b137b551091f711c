"""What a new user pays: wheel size, install time, first render of the example.

Builds the wheel (as tests/cluster/test_installed_wheel.py does), installs it into a clean
venv offline from the wheelhouse scripts/setup.sh fills, then in an empty directory with
an empty HOME and no HOMEPORT_* variable runs ``homeport init`` and times ``homeport
render`` of examples/homeport.yaml, each a new process (the first one cold: nothing
cached under HOME). For comparison it times the same render from the development venv
with the schemas read from ../shared and the Go module cache (the old default setup).

With ``--kubernetes-validate`` it also measures the alternative the issue names: the
``kubernetes-validate`` wheel (from the pip cache or PyPI), its install time, and how fast
its bundled schemas load and validate a Deployment compared with homeport's bundle.

    .venv/bin/python bench/wheel.py [--kubernetes-validate]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".venv" / "wheelhouse"
SHARED = ROOT.parent / "shared"
TOKEN = "demo-cloudflare-token-not-real"


CPU: list[float] = []  # user+sys CPU seconds of each timed process (robust on a busy host)


def timed(cmd: list[str], **kw: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {res.returncode}\n{res.stdout}{res.stderr}")
    return dt, res


def build_wheel(tmp: Path) -> tuple[float, Path]:
    src = tmp / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    (src / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "build_schema_bundle.py", src / "scripts")
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    dt, _ = timed(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
         "--no-build-isolation", "-w", str(tmp / "dist"), str(src)]
    )  # fmt: skip
    (wheel,) = (tmp / "dist").glob("homeport-*.whl")
    return dt, wheel


def clean_env(home: Path, venv: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOMEPORT_", "XDG_", "GO", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}:/usr/bin:/bin")
    return env


def render_times(
    hp: Path, env: dict[str, str], work: Path, runs: int, cpu: list[float]
) -> list[float]:
    timed(
        [str(hp), "init", "--non-interactive", "--domain", "example.com", "--email",
         "admin@example.com", "--git-url", "https://github.com/example/homelab.git",
         "--cloudflare-token-file", "-"],
        cwd=work, env=env, input=TOKEN,
    )  # fmt: skip
    shutil.copy2(ROOT / "examples" / "homeport.yaml", work / "homeport.yaml")
    out = []
    for _ in range(runs):
        dt, res = timed([str(hp), "render", "-c", "homeport.yaml"], cwd=work, env=env)
        assert " 0 errors, 0 warnings" in res.stderr, res.stderr
        out.append(dt)
        cpu.append(CPU[-1])
    return out


_KV_CHECK = """
import json, sys, time
t0 = time.perf_counter()
import kubernetes_validate as kv
objs = json.load(open(sys.argv[1]))
t1 = time.perf_counter()
bad = 0
for o in objs:
    try:
        kv.validate(o, "1.36.0", strict=True)
    except kv.ValidationError:
        bad += 1
print(f"{t1 - t0:.2f} {time.perf_counter() - t1:.2f} {bad}")
"""

_HP_CHECK = """
import json, sys, time
t0 = time.perf_counter()
from homeport import bundle
from homeport.check.schemas import SchemaStore, split_api_version
objs = json.load(open(sys.argv[1]))
t1 = time.perf_counter()
s = SchemaStore()
s.load_openapi_dir(bundle.kubernetes_file("v1.36.3"))
bad = 0
for o in objs:
    g, v = split_api_version(o["apiVersion"])
    bad += not s.validator((g, v, o["kind"])).is_valid(o)
print(f"{t1 - t0:.2f} {time.perf_counter() - t1:.2f} {bad}")
"""


def kubernetes_validate(tmp: Path, tree: Path, hp_python: Path) -> None:
    """The alternative: kubernetes-validate's wheel, install and validation speed."""
    import json
    import zipfile

    import yaml

    dl = tmp / "kv"
    timed([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl),
           "kubernetes-validate"])  # fmt: skip
    (whl,) = dl.glob("kubernetes_validate-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    venv = tmp / "kv-venv"
    timed([sys.executable, "-m", "venv", str(venv)])
    dt, _ = timed([str(venv / "bin" / "pip"), "install", "-q", str(whl)])
    pkg = next(venv.glob("lib/python3*/site-packages/kubernetes_validate"))
    size = sum(p.stat().st_size for p in pkg.rglob("*") if p.is_file())
    print(
        f"kubernetes-validate {whl.name}: {whl.stat().st_size / 1e6:.1f} MB wheel, "
        f"{len(names)} files, {size / 1e6:.0f} MB installed; install with its "
        f"dependencies (from PyPI / pip cache) {dt:.1f} s"
    )
    objs = []
    for p in sorted(tree.rglob("*.yaml")):
        for d in yaml.safe_load_all(p.read_text()):
            group = d.get("apiVersion", "").rpartition("/")[0] if isinstance(d, dict) else "?"
            if "." not in group or group.endswith(".k8s.io"):  # built-in kinds only
                objs.append(d)
    (tmp / "objs.json").write_text(json.dumps(objs))
    for label, py, code in (
        ("kubernetes-validate 1.36.0 strict", venv / "bin" / "python", _KV_CHECK),
        ("homeport bundle v1.36.3", hp_python, _HP_CHECK),
    ):
        _, res = timed([str(py), "-c", code, str(tmp / "objs.json")])
        imp, check, bad = res.stdout.split()
        print(f"{label}: import {imp} s, validate {len(objs)} built-in objects {check} s "
              f"({bad} invalid)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kubernetes-validate", action="store_true")
    args = ap.parse_args()
    if not any(WHEELHOUSE.glob("*.whl")):
        sys.exit(f"{WHEELHOUSE} is empty: run scripts/setup.sh")
    tmp = Path(tempfile.mkdtemp(prefix="homeport-bench-wheel-"))
    try:
        build_s, wheel = build_wheel(tmp)
        print(
            f"wheel {wheel.name}: {wheel.stat().st_size / 1024:.0f} KiB (built in {build_s:.1f} s)"
        )
        venv = tmp / "venv"
        timed([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
        deps_s, _ = timed([*pip, "--find-links", str(WHEELHOUSE), str(wheel)])
        print(f"clean venv install (wheel + dependencies, offline): {deps_s:.1f} s")
        venv2 = tmp / "venv2"
        timed([sys.executable, "-m", "venv", str(venv2)])
        timed([str(venv2 / "bin" / "pip"), "install", "-q", "--no-index", "--find-links",
               str(WHEELHOUSE), str(wheel)])  # fmt: skip
        alone_s, _ = timed([str(venv2 / "bin" / "pip"), "install", "-q", "--no-index",
                            "--no-deps", "--force-reinstall", str(wheel)])  # fmt: skip
        print(f"homeport alone (dependencies present): {alone_s:.1f} s")
        home, work = tmp / "home", tmp / "work"
        home.mkdir()
        work.mkdir()
        cpu: list[float] = []
        env = clean_env(home, venv)
        times = render_times(venv / "bin" / "homeport", env, work, args.runs, cpu)
        print(
            "render examples/homeport.yaml, installed wheel, no variables: first (cold) "
            f"{times[0]:.2f} s, then " + ", ".join(f"{t:.2f}" for t in times[1:]) + " s wall; "
            "CPU " + ", ".join(f"{c:.2f}" for c in cpu) + " s"
        )
        dev = {**os.environ,
               "HOMEPORT_CRD_DIR": str(SHARED / "crds"),
               "HOMEPORT_CHART_SCHEMA_DIR": str(SHARED / "chart-schemas"),
               "HOMEPORT_HOME": str(tmp / "dev-home"),
               "XDG_CACHE_HOME": str(tmp / "dev-cache")}  # fmt: skip
        gomod = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                               check=False, env={**os.environ, "PATH": os.environ["PATH"] +
                               ":/usr/local/go/bin"}).stdout.strip()  # fmt: skip
        dev["HOMEPORT_K8S_SCHEMA_DIR"] = f"{gomod}/k8s.io/kubernetes@v1.36.3/api/openapi-spec/v3"
        (tmp / "dev-work").mkdir()
        cpu = []
        times = render_times(
            ROOT / ".venv" / "bin" / "homeport", dev, tmp / "dev-work", args.runs, cpu
        )
        print(
            "same render, dev venv, schemas from ../shared + Go module cache (YAML CRDs, "
            f"empty parse cache): first {times[0]:.2f} s, then "
            + ", ".join(f"{t:.2f}" for t in times[1:])
            + " s wall; CPU "
            + ", ".join(f"{c:.2f}" for c in cpu)
            + " s"
        )
        if args.kubernetes_validate:
            kubernetes_validate(tmp, work / "cluster", venv / "bin" / "python")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
