"""homeport's alerts, proven with the real promtool of the pinned Prometheus release.

``promtool check rules`` validates every PrometheusRule the tree renders (and every
dashboard query, as recording rules); ``promtool test rules`` runs the unit tests in
``promtool/*.yaml``: synthetic series that must make each alert fire, and others that must
leave it quiet (6 vs 8 days to expiry, 14 vs 16 minutes of DDNS failure, low traffic).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from homeport import yamlio
from homeport.gitops import RenderedTree, render_tree
from homeport.platform import monitoring

from .conftest import PROMTOOL_TESTS, ROOT, config, rule_objects, run_promtool, write_rules_file

UNIT_TESTS = sorted(PROMTOOL_TESTS.glob("*.yaml"))


def _rendered_alerts(tree: RenderedTree) -> set[str]:
    return {
        r["alert"]
        for _, obj in rule_objects(tree)
        for g in obj["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    }


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "components: {monitoring: {lite: true}}\n",
        "components: {authentik: {enabled: false}, monitoring: {auth: public},"
        " argocd: {auth: public}}\n",
    ],
    ids=["default", "lite", "no-sso"],
)
def test_promtool_checks_every_rendered_rule_file(
    promtool: Path, tmp_path: Path, extra: str
) -> None:
    tree = render_tree(config(extra))
    objs = rule_objects(tree)
    # homeport's alerts and the DDNS controller's, each from its own Application.
    assert {p.split("/")[1] for p, _ in objs} >= {"monitoring-config", "ddns"}
    for path, obj in objs:
        out = tmp_path / (Path(path).stem + ".yaml")
        out.write_text(yamlio.dump({"groups": obj["spec"]["groups"]}), encoding="utf-8")
        proc = run_promtool(promtool, "check", "rules", str(out))
        assert proc.returncode == 0, f"{path}: {proc.stdout}{proc.stderr}"
        assert "SUCCESS" in proc.stdout + proc.stderr


def test_promtool_check_rejects_a_broken_rule(promtool: Path, tmp_path: Path) -> None:
    # The check above can fail: an unbalanced expression is refused.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yamlio.dump(
            {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum(rate(up[5m])"}]}]}
        ),
        encoding="utf-8",
    )
    proc = run_promtool(promtool, "check", "rules", str(bad))
    assert proc.returncode != 0


def test_dashboard_queries_parse(promtool: Path, tmp_path: Path) -> None:
    rules = [
        {"record": f"homeport:dashboard:{i}", "expr": expr}
        for i, expr in enumerate(sorted(_dashboard_exprs()))
    ]
    path = tmp_path / "dashboards.yaml"
    path.write_text(
        yamlio.dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8"
    )
    proc = run_promtool(promtool, "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("unit", UNIT_TESTS, ids=[p.stem for p in UNIT_TESTS])
def test_promtool_unit_tests(
    promtool: Path, full_tree: RenderedTree, tmp_path: Path, unit: Path
) -> None:
    write_rules_file(full_tree, tmp_path / "rules.yaml")
    shutil.copy(unit, tmp_path / unit.name)
    proc = run_promtool(promtool, "test", "rules", unit.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_unit_tests_fail_when_an_alert_is_wrong(
    promtool: Path, full_tree: RenderedTree, tmp_path: Path
) -> None:
    # Move the critical certificate threshold from 7 to 5 days: the 6-day case must now fail.
    write_rules_file(full_tree, tmp_path / "rules.yaml")
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules.read_text().replace("< 7 * 86400", "< 5 * 86400"), encoding="utf-8")
    shutil.copy(PROMTOOL_TESTS / "certificates.yaml", tmp_path / "certificates.yaml")
    proc = run_promtool(promtool, "test", "rules", "certificates.yaml", cwd=tmp_path)
    assert proc.returncode != 0
    assert "six-days" in proc.stdout + proc.stderr


def test_every_alert_has_firing_and_quiet_cases(full_tree: RenderedTree) -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for unit in UNIT_TESTS:
        doc = yamlio.load(unit.read_text())
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = _rendered_alerts(full_tree)
    assert alerts == set(monitoring.RUNBOOKS)
    assert alerts <= firing, f"no firing case for {alerts - firing}"
    assert alerts <= quiet, f"no quiet case for {alerts - quiet}"


def test_every_rule_is_documented(full_tree: RenderedTree) -> None:
    for path, obj in rule_objects(full_tree):
        for group in obj["spec"]["groups"]:
            for rule in group["rules"]:
                name = rule["alert"]
                ann = rule["annotations"]
                assert ann["summary"] and ann["description"], (path, name)
                # The description names the object it is about.
                assert "{{ $labels." in ann["description"] or "DDNS" in ann["description"], name
                assert rule["labels"]["severity"] in ("warning", "critical"), name
                assert ann["runbook_url"] == monitoring.runbook_url(name), name
                page = ROOT / "docs" / "runbooks" / f"{monitoring.RUNBOOKS[name]}.md"
                if name != "DDNSFailing":  # written with the DDNS controller
                    assert page.is_file(), page
                    text = page.read_text()
                    for heading in ("## What it means", "## How to check", "## How to fix"):
                        assert heading in text, (page, heading)


# ---------------------------------------------------------------- metric names

_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "le",
}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (strings, label matchers, groupings and calls removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def _dashboard_exprs() -> set[str]:
    return {
        t["expr"]
        for model in monitoring.dashboards().values()
        for panel in model["panels"]
        for t in panel["targets"]
    }


def _rule_exprs(tree: RenderedTree) -> set[str]:
    return {
        r["expr"] for _, o in rule_objects(tree) for g in o["spec"]["groups"] for r in g["rules"]
    }


def test_metric_name_extraction() -> None:
    assert metric_names(
        'sum by (service) (rate(traefik_service_requests_total{code=~"5.."}[5m])) / ALERTS'
    ) == {"traefik_service_requests_total", "ALERTS"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m]))) > 0") == {
        "x_bucket"
    }


def test_every_metric_used_is_listed_with_its_source(full_tree: RenderedTree) -> None:
    listed = {n for _, names in monitoring.METRIC_SOURCES.values() for n in names}
    used: set[str] = set()
    for expr in _dashboard_exprs() | _rule_exprs(full_tree):
        used |= metric_names(expr)
    assert used, "no metric found"
    assert used <= listed, f"metrics without a source: {sorted(used - listed)}"
    # And the lists carry nothing stale.
    assert listed <= used, f"listed but unused: {sorted(listed - used)}"
    for component, (source, names) in monitoring.METRIC_SOURCES.items():
        assert source and names, component


def test_backup_unit_tests_fail_when_the_threshold_is_wrong(
    promtool: Path, full_tree: RenderedTree, tmp_path: Path
) -> None:
    # Twice a daily schedule is 48 h; at 55 h the 49-hour case must stop firing.
    write_rules_file(full_tree, tmp_path / "rules.yaml")
    rules = tmp_path / "rules.yaml"
    text = rules.read_text()
    assert "> 172800" in text
    rules.write_text(text.replace("> 172800", "> 198000"), encoding="utf-8")
    shutil.copy(PROMTOOL_TESTS / "backup-age.yaml", tmp_path / "backup-age.yaml")
    proc = run_promtool(promtool, "test", "rules", "backup-age.yaml", cwd=tmp_path)
    assert proc.returncode != 0
    assert "too-old" in proc.stdout + proc.stderr
