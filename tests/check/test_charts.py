"""`homeport check --charts`: the tree's charts expanded by the real Helm, as Argo CD would.

Real: Helm v4.2.1 (the Helm Argo CD v3.5.1 templates with, built by scripts/build-tools.sh),
the pinned upstream charts unpacked in ../shared/charts, the Kubernetes OpenAPI schemas
and the CRDs. Nothing is stubbed: a missing Helm fails these tests. Each distinct
``helm template`` runs once in this module (its real output is reused by the tests that
expand the same Application), and the CLI tests call its entry point in this process.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clirun import run_cli
from homeport.check import RULES, check_tree
from homeport.check import expand as ex
from homeport.check.charts import CHART_TABLE
from homeport.config import load_config
from homeport.gitops import render_tree
from homeport.platform.authentik import BACKUP_SECRET
from homeport.platform.monitoring import SMTP_SECRET
from homeport.versions import CHARTS

from .conftest import ROOT, SHARED, download_kubernetes
from .trees import base_tree, line_of, seal_required, web, write_tree

CHARTS_DIR = SHARED / "charts"
Tree = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module", autouse=True)
def helm() -> str:
    h = ex.helm_binary()
    assert h is not None and Path(h).exists(), "helm missing: run scripts/build-tools.sh"
    return h


@pytest.fixture(scope="module", autouse=True)
def _helm_once() -> Iterator[None]:
    """Each distinct ``helm template`` of this module runs once; its result is reused.

    Several tests expand the same Applications (same chart, values, release, versions):
    Helm writes the same objects for the same input, and its runs are most of their time.
    A reuse is a fresh :class:`~homeport.check.expand.Expansion` of the real output.
    """
    real = ex.expand_one
    seen: dict[str, ex.Expansion] = {}

    def once(
        helm: str, directory: Path, src: ex.HelmSource, kube: str, apis: list[str]
    ) -> ex.Expansion:
        key = json.dumps(
            [helm, str(directory), src.release, src.namespace, src.values, kube, apis],
            sort_keys=True,
            default=str,
        )
        if key not in seen:
            seen[key] = real(helm, directory, src, kube, apis)
        done = seen[key]
        return ex.Expansion(
            src,
            copy.deepcopy(done.objects),
            done.error,
            done.chart_dir,
            done.missing_dependencies,
        )

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ex, "expand_one", once)
        yield


# -- the rendered examples ----------------------------------------------------------------
def _render(example: str, root: Path) -> Any:
    cfg = load_config(ROOT / "examples" / f"{example}.yaml")
    download_kubernetes(cfg.kubernetes.version)
    for rel, text in render_tree(cfg).files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    seal_required(cfg, root)
    return cfg


def _chart_names(cfg: Any) -> list[str]:
    import yaml

    out = []
    for rel, text in render_tree(cfg).files.items():
        if rel.startswith("apps/"):
            src = (yaml.safe_load(text).get("spec") or {}).get("source") or {}
            if src.get("chart"):
                out.append(f"{src['chart']}-{src['targetRevision']}")
    return out


def _complete(name: str) -> bool:
    """Whether the cached chart holds every dependency its Chart.yaml lists."""
    import yaml

    d = CHARTS_DIR / name
    deps = (yaml.safe_load((d / "Chart.yaml").read_text()) or {}).get("dependencies") or []
    have = (
        {
            p.name.rsplit("-", 1)[0] if p.suffix == ".tgz" else p.name
            for p in (d / "charts").glob("*")
        }
        if (d / "charts").is_dir()
        else set()
    )
    return all(x["name"] in have or x.get("alias") in have for x in deps)


def _where(report: Any) -> list[tuple[str, int, str, str]]:
    return [(f.file, f.line, f.rule_id, f.message) for f in report.findings]


@pytest.mark.parametrize("example", ["homeport", "full-ha"])
def test_examples_expand_cleanly(example: str, tmp_path: Path) -> None:
    cfg = _render(example, tmp_path)
    t0 = time.perf_counter()
    report = check_tree(tmp_path, kubernetes_version=cfg.kubernetes.version, charts_dir=CHARTS_DIR)
    elapsed = time.perf_counter() - t0
    assert _where(report) == []
    note = next(n for n in report.notes if n.startswith("expanded "))
    helm_apps = sum(
        1
        for rel, text in render_tree(cfg).files.items()
        if rel.startswith("apps/") and "\n    chart: " in text
    )
    # ../shared/charts may hold a chart without its subcharts (kube-prometheus-stack 88.2.0
    # has none of them there): check falls back to its table for that chart and says so.
    incomplete = [c for c in _chart_names(cfg) if not _complete(c)]
    assert helm_apps >= 6
    assert note.startswith(f"expanded {helm_apps - len(incomplete)} chart(s)"), note
    for c in incomplete:
        assert any("lack their dependencies" in n and c in n for n in report.notes)
    assert int(note.split(": ")[1].split()[0]) > 100  # objects Helm wrote
    assert elapsed < 120


def test_deleted_sealed_secret_is_named_with_file_and_field(tmp_path: Path) -> None:
    cfg = _render("full-ha", tmp_path)
    assert check_tree(tmp_path, kubernetes_version=cfg.kubernetes.version).findings == []
    (tmp_path / "secrets" / "authentik" / f"{BACKUP_SECRET}.yaml").unlink()
    (tmp_path / "secrets" / "monitoring" / f"{SMTP_SECRET}.yaml").unlink()
    for charts in (None, CHARTS_DIR):
        report = check_tree(tmp_path, kubernetes_version=cfg.kubernetes.version, charts_dir=charts)
        got = sorted((f.file, f.line, f.rule_id, f.field) for f in report.findings)
        db = "components/authentik-database/cluster-authentik-db.yaml"
        cred = "spec.backup.barmanObjectStore.s3Credentials"
        assert got == [
            (
                "apps/monitoring.yaml",
                line_of(tmp_path, "apps/monitoring.yaml", f"- {SMTP_SECRET}"),
                "HP-R005",
                "spec.source.helm.valuesObject.alertmanager.alertmanagerSpec.secrets.0",
            ),
            (db, line_of(tmp_path, db, "accessKeyId:") + 1, "HP-R005", f"{cred}.accessKeyId.name"),
            (
                db,
                line_of(tmp_path, db, "secretAccessKey:") + 1,
                "HP-R005",
                f"{cred}.secretAccessKey.name",
            ),
            (db, line_of(tmp_path, db, "region:") + 1, "HP-R005", f"{cred}.region.name"),
        ], charts


# -- chart corpus -------------------------------------------------------------------------
@dataclass
class ChartCase:
    id: str
    mutate: Callable[[Tree], None]
    rule: str
    file: str
    needle: str
    offline: bool  # whether the check catches it without the charts too


def _app(t: Tree, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = t[f"apps/{name}.yaml"][0]
    return doc


def _route_to(name: str, ns: str, port: Any) -> Callable[[Tree], None]:
    def run(t: Tree) -> None:
        svc = web(t, "IngressRoute")["spec"]["routes"][0]["services"][0]
        svc.update({"name": name, "namespace": ns, "port": port})

    return run


def _pull_secret(t: Tree) -> None:
    _app(t, "traefik")["spec"]["source"]["helm"]["valuesObject"]["deployment"] = {
        "imagePullSecrets": [{"name": "registry-login"}]
    }


def _rename_release(t: Tree) -> None:
    _app(t, "traefik")["spec"]["source"]["helm"]["releaseName"] = "edge"
    _route_to("edge", "traefik", 80)(t)


def _helm_fails(t: Tree) -> None:
    _app(t, "cert-manager")["spec"]["source"]["helm"]["valuesObject"]["prometheus"] = {
        "enabled": True,
        "podmonitor": {"enabled": True},
        "servicemonitor": {"enabled": True},
    }


CHART_CASES = [
    ChartCase(
        "service-port-the-chart-does-not-expose",
        _route_to("traefik", "traefik", 8443),
        "HP-R001",
        "components/web/web.yaml",
        "port: 8443",
        offline=False,
    ),
    ChartCase(
        "secret-nobody-creates",
        _pull_secret,
        "HP-R005",
        "apps/traefik.yaml",
        "name: registry-login",
        offline=False,
    ),
    ChartCase(
        "release-name-changes-the-service-name",
        _rename_release,
        "HP-R001",
        "components/web/web.yaml",
        "name: edge",
        offline=False,
    ),
    ChartCase(
        "helm-cannot-expand",
        _helm_fails,
        "HP-S008",
        "apps/cert-manager.yaml",
        "valuesObject:",
        offline=False,
    ),
]


def test_base_tree_is_clean_with_charts(tmp_path: Path) -> None:
    report = check_tree(write_tree(tmp_path, base_tree()), charts_dir=CHARTS_DIR)
    assert _where(report) == []
    assert any(n.startswith("expanded 3 chart(s)") for n in report.notes), report.notes


@pytest.mark.parametrize("case", CHART_CASES, ids=[c.id for c in CHART_CASES])
def test_chart_corpus(case: ChartCase, tmp_path: Path) -> None:
    tree = copy.deepcopy(base_tree())
    case.mutate(tree)
    root = write_tree(tmp_path, tree)
    line = line_of(root, case.file, case.needle)
    report = check_tree(root, charts_dir=CHARTS_DIR)
    hits = [f for f in report.findings if f.rule_id == case.rule]
    assert any(f.file == case.file and f.line == line for f in hits), _where(report)
    assert hits[0].severity == RULES[case.rule].severity
    # Negative control: the offline table does not see it (that is why charts are expanded).
    offline = check_tree(root)
    caught = any(f.rule_id == case.rule for f in offline.findings)
    assert caught == case.offline, _where(offline)


# -- the offline table agrees with the charts -----------------------------------------------
def _example_values() -> dict[str, tuple[str, str, Any]]:
    """chart -> (release, namespace, values) as the full-ha and bare-metal examples render them."""
    import yaml

    files: dict[str, str] = {}
    for example in ("bare-metal.yaml", "full-ha.yaml"):  # MetalLB is only in bare-metal
        files.update(render_tree(load_config(ROOT / "examples" / example)).files)
    out = {}
    for rel, text in files.items():
        if not rel.startswith("apps/"):
            continue
        app = yaml.safe_load(text)
        src = (app.get("spec") or {}).get("source") or {}
        if src.get("chart"):
            helm = src.get("helm") or {}
            out[src["chart"]] = (
                helm.get("releaseName") or app["metadata"]["name"],
                app["spec"]["destination"]["namespace"],
                helm.get("valuesObject") or {},
            )
    return out


@pytest.mark.parametrize("chart", sorted(CHART_TABLE))
def test_offline_table_agrees_with_the_expanded_chart(chart: str, helm: str) -> None:
    release, ns, values = _example_values()[chart]
    pin = CHARTS[chart]
    d = ex.chart_dir(CHARTS_DIR, chart, pin.version)
    assert d is not None, f"{chart} {pin.version} is not in {CHARTS_DIR}"
    src = ex.HelmSource(chart, chart, pin.version, release, ns, values)
    apis = ["v1", "monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"]
    result = ex.expand_one(helm, d, src, "v1.36.3", apis)
    if not _complete(d.name):
        # ../shared/charts lacks this chart's subcharts: Helm refuses it, and check falls
        # back to the table (test_examples_expand_cleanly proves the note).
        assert result.missing_dependencies, result.error
        return
    assert result.error == ""
    objs = [o for _t, o in result.objects]
    services = {o["metadata"]["name"] for o in objs if o["kind"] == "Service"}
    secrets = {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"}
    groups = {o["spec"]["group"] for o in objs if o["kind"] == "CustomResourceDefinition"}
    info = CHART_TABLE[chart]
    names = {"release": release, "fullname": values.get("fullnameOverride") or release}
    assert {s.format(**names) for s in info.services} == services
    assert {s.format(**names) for s in info.secrets} == secrets
    assert (set(info.crd_groups) if info.installs_crds(values) else set()) == groups


# -- values layout of a chart without values.schema.json ------------------------------------
def _unknown_keys(ours: dict[str, Any], theirs: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Keys of our values the chart's values.yaml does not have (free-form maps excepted)."""
    out: list[str] = []
    if not isinstance(theirs, dict) or theirs == {}:
        return out  # a free-form map (env, resources, annotations, ...) takes any key
    for k, v in ours.items():
        if k not in theirs:
            out.append(".".join((*path, k)))
        elif isinstance(v, dict):
            out += _unknown_keys(v, theirs[k], (*path, k))
    return out


@pytest.mark.parametrize("example", ["homeport", "full-ha"])
def test_authentik_values_fit_the_pinned_chart(example: str) -> None:
    """The authentik chart has no values.schema.json: compare with its values.yaml."""
    import yaml

    cfg = load_config(ROOT / "examples" / f"{example}.yaml")
    app = yaml.safe_load(render_tree(cfg).files["apps/authentik.yaml"])
    src = app["spec"]["source"]
    assert src["targetRevision"] == CHARTS["authentik"].version == "2026.8.0"
    d = ex.chart_dir(CHARTS_DIR, "authentik", src["targetRevision"])
    assert d is not None
    defaults = yaml.safe_load((d / "values.yaml").read_text())
    values = src["helm"]["valuesObject"]
    assert _unknown_keys(values, defaults) == []
    # Negative control: a key the chart does not know is found.
    bad = copy.deepcopy(values)
    bad["server"]["metrics"]["servicemonitor"] = {"enabled": True}
    assert _unknown_keys(bad, defaults) == ["server.metrics.servicemonitor"]


def test_cli_charts_option(tmp_path: Path) -> None:
    root = str(write_tree(tmp_path / "tree", base_tree()))

    def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
        r = run_cli(["check", root, *args], env={"COLUMNS": "200", **(env or {})})
        return r.returncode, r.stdout, r.stderr

    code, out, err = run("--charts", str(CHARTS_DIR), "-o", "json")
    assert code == 0, out + err
    assert json.loads(out)["findings"] == []
    code, out, _ = run("--charts", str(CHARTS_DIR))
    assert code == 0 and "note: expanded 3 chart(s)" in out, out
    code, out, err = run("--charts", str(tmp_path / "nope"))
    assert code == 2 and "chart directory does not exist" in err
    assert out == ""
    # Without Helm, --charts is one clear error too.
    code, _, err = run("--charts", str(CHARTS_DIR), env={"HOMEPORT_HELM": str(tmp_path / "x")})
    assert code == 2 and "helm" in err.lower(), err


def test_render_expands_charts_when_a_cache_is_configured(tmp_path: Path) -> None:
    cfg = ROOT / "examples" / "minimal.yaml"
    args = ["render", "-c", str(cfg), "-o", str(tmp_path / "t")]
    err = run_cli(args, env={"HOMEPORT_CHARTS_DIR": str(CHARTS_DIR)}).stderr
    assert "expanded " in err and "chart(s) with Helm" in err, err
    # Negative control: without a cache (and no pull cache), nothing is expanded.
    empty = {"HOMEPORT_CHARTS_DIR": None, "XDG_CACHE_HOME": str(tmp_path / "empty-cache")}
    assert "chart(s) with Helm" not in run_cli(args, env=empty).stderr


def test_builtin_api_versions_same_from_bundle_and_openapi_files() -> None:
    """Argo CD's --api-versions come out the same whether the release's schemas are the
    package bundle (an installed homeport) or the upstream OpenAPI files (Go module cache);
    only subresource and option kinds, which no chart asks about, may differ."""
    from homeport import bundle
    from homeport.check.sources import kubernetes_patch

    patch = kubernetes_patch("1.36")
    packed = bundle.kubernetes_file(patch)
    gomod = Path.home() / "go" / "pkg" / "mod" / "k8s.io" / f"kubernetes@{patch}"
    files = gomod / "api" / "openapi-spec" / "v3"
    assert packed is not None and files.is_dir()
    a, b = set(ex.builtin_api_versions(packed)), set(ex.builtin_api_versions(files))
    assert "policy/v1/PodDisruptionBudget" in a and "apps/v1/Deployment" in a
    subresources = {"Eviction", "Scale", "TokenRequest"}
    options = {k for k in (v.rsplit("/", 1)[-1] for v in b - a) if k.endswith("Options")}
    # Any group/version or resource kind missing on one side would show up here.
    assert {v.rsplit("/", 1)[-1] for v in a ^ b} <= subresources | options
