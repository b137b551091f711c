"""Benchmark `homeport check` against kubeconform on the same trees and the same schemas.

    .venv/bin/python bench/check.py [--resources 10000] [--runs 3]

Builds kubeconform from its Go module (via scripts/build-tools.sh's cache dir), renders
examples/homeport.yaml, generates a tree of N resources, exports the exact JSON Schemas
homeport validates with (Kubernetes OpenAPI v3 + CRDs, strict) for kubeconform's
-schema-location, and times both tools as separate processes (best of --runs). homeport
runs its full check (schemas, CEL, references, policy); kubeconform only validates schemas.
homeport's source is byte-compiled first: an installed homeport runs from bytecode (pip
compiles it at install), and so does a source tree Python has imported once, unless
PYTHONDONTWRITEBYTECODE is set (then every run would compile it again).
Needs HOMEPORT_CRD_DIR (default ../shared/crds) and the k8s.io/kubernetes module in the Go
module cache (`go mod download k8s.io/kubernetes@<pinned>`).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from homeport import yamlio  # noqa: E402
from homeport.check.loader import parse_documents, yaml_files  # noqa: E402
from homeport.check.schemas import SchemaStore, split_api_version  # noqa: E402
from homeport.check.sources import (  # noqa: E402
    KUBERNETES_PATCH,
    default_crd_dirs,
    find_openapi_dir,
)
from homeport.config import load_config  # noqa: E402
from homeport.gitops import render_tree  # noqa: E402

KUBECONFORM_VERSION = "v0.8.0"
GO = shutil.which("go") or "/usr/local/go/bin/go"


def kubeconform() -> Path:
    tools = Path(os.environ.get("HOMEPORT_TOOLS", Path.home() / ".cache" / "homeport-tools"))
    binary = tools / "bin" / "kubeconform"
    stamp = tools / "bin" / ".kubeconform.version"
    if (
        not binary.exists()
        or not stamp.exists()
        or stamp.read_text().strip() != KUBECONFORM_VERSION
    ):
        binary.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOBIN": str(binary.parent), "CGO_ENABLED": "0"}
        subprocess.run(
            [GO, "install", f"github.com/yannh/kubeconform/cmd/kubeconform@{KUBECONFORM_VERSION}"],
            check=True,
            env=env,
        )
        stamp.write_text(KUBECONFORM_VERSION + "\n")
    return binary


def render_example(out: Path) -> None:
    cfg = load_config(ROOT / "examples" / "homeport.yaml")
    for rel, text in render_tree(cfg).files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def generate(out: Path, resources: int) -> int:
    """Copy the example tree and add apps of 6 objects each until `resources` objects."""
    render_example(out)
    count = sum(len(parse_documents(p.read_text(), "")) for p in yaml_files(out))
    i = 0
    while count < resources:
        name = f"bench{i:05d}"
        labels = {"app.kubernetes.io/name": name}
        pod_sc = {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        c_sc = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        docs = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
                },
            },
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny", "namespace": name},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": name},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "securityContext": pod_sc,
                            "containers": [
                                {
                                    "name": "app",
                                    "image": "traefik/whoami:v1.11.0",
                                    "ports": [{"name": "http", "containerPort": 8080}],
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "64Mi"},
                                        "limits": {"cpu": "500m", "memory": "256Mi"},
                                    },
                                    "livenessProbe": {"tcpSocket": {"port": "http"}},
                                    "readinessProbe": {"tcpSocket": {"port": "http"}},
                                    "securityContext": c_sc,
                                }
                            ],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": name},
                "spec": {
                    "selector": labels,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            },
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": name},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
            },
            {
                "apiVersion": "traefik.io/v1alpha1",
                "kind": "IngressRoute",
                "metadata": {"name": name, "namespace": name},
                "spec": {
                    "entryPoints": ["websecure"],
                    "routes": [
                        {
                            "kind": "Rule",
                            "match": f"Host(`{name}.example.com`)",
                            "services": [{"name": name, "port": 80}],
                        }
                    ],
                    "tls": {},
                },
            },
        ]
        p = out / "components" / name / "app.yaml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(yamlio.dump_all(docs))
        count += len(docs)
        i += 1
    return count


def gvks_of(tree: Path) -> set[tuple[str, str, str]]:
    out = set()
    for p in yaml_files(tree):
        for _line, doc, _node in parse_documents(p.read_text(), ""):
            if isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str):
                g, v = split_api_version(doc["apiVersion"])
                out.add((g, v, str(doc.get("kind"))))
    return out


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def best(
    cmd: list[str], runs: int, ok: tuple[int, ...] = (0, 1)
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Best wall time and best CPU time (user + sys, forked children included) of ``runs``.

    CPU time is what to compare on a busy machine, where wall times wander.
    """
    times, cpus = [], []
    last = None
    for _ in range(runs):
        t, c = time.perf_counter(), _children_cpu()
        last = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        cpus.append(_children_cpu() - c)
        if last.returncode not in ok:
            raise SystemExit(f"{cmd[0]} failed ({last.returncode}): {last.stderr[-2000:]}")
    assert last is not None
    return min(times), min(cpus), last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HOMEPORT_CRD_DIR", str(ROOT.parent / "shared" / "crds"))
    os.environ.setdefault(
        "HOMEPORT_CHART_SCHEMA_DIR", str(ROOT.parent / "shared" / "chart-schemas")
    )
    if find_openapi_dir("1.36") is None:
        subprocess.run(
            [GO, "mod", "download", f"k8s.io/kubernetes@{KUBERNETES_PATCH['1.36']}"],
            check=True,
            cwd="/",
        )
    kc = kubeconform()
    compileall.compile_dir(ROOT / "src" / "homeport", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="homeport-bench-"))
    try:
        example = work / "example"
        render_example(example)
        big = work / "big"
        n = generate(big, args.resources)
        store = SchemaStore()
        openapi = find_openapi_dir("1.36")
        assert openapi is not None
        store.load_openapi_dir(openapi)
        store.load_crd_dirs(default_crd_dirs())
        schemas = work / "schemas"
        written = store.export(schemas, gvks_of(example) | gvks_of(big))
        location = str(schemas) + "/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json"
        print(
            f"kubeconform {KUBECONFORM_VERSION}; {written} schemas exported; {os.cpu_count()} CPUs"
        )
        for label, tree in (("example tree", example), (f"generated tree ({n} resources)", big)):
            kc_cmd = [
                str(kc),
                "-strict",
                "-summary",
                "-n",
                str(os.cpu_count() or 2),
                "-schema-location",
                location,
                str(tree),
            ]
            hp_cmd = [sys.executable, "-m", "homeport", "check", str(tree), "--output", "json"]
            t_kc, c_kc, r_kc = best(kc_cmd, args.runs)
            t_hp, c_hp, _ = best(hp_cmd, args.runs)
            summary = (r_kc.stdout.strip().splitlines() or [""])[-1]
            print(f"{label}:")
            print(f"  kubeconform (schemas only): {t_kc:7.2f} s  {c_kc:6.2f} s CPU   [{summary}]")
            print(f"  homeport check (full):      {t_hp:7.2f} s  {c_hp:6.2f} s CPU")
            print(f"  ratio homeport/kubeconform: {t_hp / t_kc:7.2f}    {c_hp / c_kc:6.2f} CPU")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
