"""The Load Balancer box: each ``load_balancer.type`` renders a tree that checks clean.

Real parts: the homeport CLI entry point (``init`` seals real secrets, ``render`` runs the
offline check against the pinned CRDs and chart value schemas from ../shared), the pinned
MetalLB CRDs and the MetalLB chart's own ``values.yaml`` and ``values.schema.json``
(validated with jsonschema after merging the values the way Helm coalesces them).
"""

from __future__ import annotations

import copy
import io
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from configs import base_yaml
from homeport import yamlio
from homeport.cli import main
from homeport.config import load_config, parse_config
from homeport.errors import ConfigError
from homeport.gitops import render_tree
from homeport.platform import loadbalancer
from homeport.platform.base import WAVE_CONTROLLERS
from keys import write_pair

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("HOMEPORT_SHARED", ROOT.parent / "shared"))
CRDS = SHARED / "crds" / "metallb-v0.16.1"
CHART = SHARED / "charts" / "metallb-0.16.1"

BASE = base_yaml(domain="example.org", email="admin@example.org", git_path="clusters/home")
CHOICES = {
    "servicelb": "load_balancer:\n  type: servicelb\n",
    "cloud": "load_balancer:\n  type: cloud\n",
    "metallb": (
        "load_balancer:\n  type: metallb\n  node_network: 192.168.1.0/24\n"
        '  addresses: ["192.168.1.240-192.168.1.250", "192.168.1.224/29"]\n'
        "components:\n  traefik:\n    load_balancer_ip: 192.168.1.241\n"
    ),
    "nodeport": "load_balancer:\n  type: nodeport\n  http_node_port: 30080\n"
    "  https_node_port: 30443\n",
}


def cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> tuple[int, str]:
    """Run the CLI's real entry point in-process; return (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["homeport", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    write_pair(home)
    return home


def _values(app: dict[str, Any]) -> dict[str, Any]:
    return dict(app["spec"]["source"]["helm"]["valuesObject"])


@pytest.mark.parametrize("choice", sorted(CHOICES))
def test_each_choice_inits_renders_and_checks_clean(
    choice: str,
    tmp_path: Path,
    pair_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """init + render for each load balancer: 0 findings, and the Service matches the choice."""
    monkeypatch.setenv("HOMEPORT_HOME", str(pair_dir))
    d = tmp_path / "repo"
    d.mkdir()
    (d / "homeport.yaml").write_text(BASE + CHOICES[choice])
    (tmp_path / "tok").write_text("cf-token-abc\n")
    code, out = cli(
        ["init", "--dir", str(d), "--use-config", "--non-interactive",
         "--cloudflare-token-file", str(tmp_path / "tok")],
        monkeypatch, capsys,
    )  # fmt: skip
    assert code == 0, out
    code, out = cli(["render", "-c", str(d / "homeport.yaml")], monkeypatch, capsys)
    assert code == 0, out
    assert "0 errors, 0 warnings" in out

    tree = d / "clusters" / "home"
    apps = {p.stem: yamlio.load(p.read_text()) for p in (tree / "apps").glob("*.yaml")}
    traefik = _values(apps["traefik"])
    wave = {n: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for n, a in
            apps.items() if a["kind"] == "Application"}  # fmt: skip
    assert wave["traefik"] == WAVE_CONTROLLERS
    if choice == "metallb":
        # MetalLB and its pool come in earlier waves than Traefik's Service.
        assert wave["metallb"] < wave["metallb-config"] < wave["traefik"]
        assert apps["metallb"]["spec"]["source"]["chart"] == "metallb"
        assert apps["metallb"]["spec"]["source"]["targetRevision"] == "0.16.1"
        assert traefik["service"] == {
            "annotations": {"metallb.io/loadBalancerIPs": "192.168.1.241"}
        }
        pool = yamlio.load((tree / "components/metallb-config/ipaddresspool-homeport.yaml")
                           .read_text())  # fmt: skip
        assert pool["spec"]["addresses"] == ["192.168.1.240-192.168.1.250", "192.168.1.224/29"]
        ns = (tree / "components/namespaces").read_text() if (
            tree / "components/namespaces").is_file() else "".join(
            p.read_text() for p in (tree / "components/namespaces").glob("*.yaml"))  # fmt: skip
        assert "metallb-system" in ns
    else:
        assert "metallb" not in apps and "metallb-config" not in apps
    if choice == "nodeport":
        assert traefik["service"]["spec"]["type"] == "NodePort"
        assert traefik["ports"]["web"]["nodePort"] == 30080
        assert traefik["ports"]["websecure"]["nodePort"] == 30443
        assert traefik["ports"]["websecure"]["exposedPort"] == 443  # the rest is kept
    else:
        # LoadBalancer is the chart's default type; servicelb/cloud/MetalLB answer it.
        assert "type" not in traefik.get("service", {}).get("spec", {})

    if choice == "metallb":
        # Negative control: a pool the CRD refuses makes the same tree fail the check.
        f = tree / "components/metallb-config/ipaddresspool-homeport.yaml"
        f.write_text(f.read_text().replace("  addresses:\n", "  addresses: 7\n  x:\n"))
        code, out = cli(["check", str(tree)], monkeypatch, capsys)
        assert code == 1
        assert "ipaddresspool-homeport.yaml" in out


def _crd_schema(plural: str) -> dict[str, Any]:
    crd = yamlio.load((CRDS / f"metallb.io_{plural}.yaml").read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == "v1beta1":
            return dict(v["schema"]["openAPIV3Schema"])
    raise AssertionError(f"no v1beta1 in {plural}")


def test_metallb_objects_validate_against_the_pinned_crds() -> None:
    """IPAddressPool and L2Advertisement against MetalLB v0.16.1's own CRD schemas."""
    cfg = parse_config(BASE + CHOICES["metallb"])
    pool, l2 = loadbalancer.pool_objects(cfg)
    assert (pool["kind"], l2["kind"]) == ("IPAddressPool", "L2Advertisement")
    jsonschema.validate(pool, _crd_schema("ipaddresspools"))
    jsonschema.validate(l2, _crd_schema("l2advertisements"))
    # Negative controls: the same schemas refuse a malformed pool and advertisement.
    bad = copy.deepcopy(pool)
    bad["spec"]["addresses"] = "192.168.1.240-192.168.1.250"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _crd_schema("ipaddresspools"))
    bad_l2 = copy.deepcopy(l2)
    bad_l2["spec"]["ipAddressPools"] = {"name": "homeport"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_l2, _crd_schema("l2advertisements"))


def _coalesce(base: Any, over: Any) -> Any:
    """Merge values the way Helm does: maps deep-merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _coalesce(base.get(k), v) if k in base else v
        return out
    return over


def test_metallb_values_validate_against_the_chart_schema() -> None:
    """homeport's values merged over the chart's values.yaml pass the chart's full schema."""
    schema = yamlio.load((CHART / "values.schema.json").read_text())
    # The chart names draft 7 by an https URL jsonschema does not recognise: say it plainly.
    v7 = jsonschema.Draft7Validator(schema)
    defaults = yamlio.load((CHART / "values.yaml").read_text())
    values = loadbalancer.metallb_values()
    merged = _coalesce(defaults, values)
    v7.validate(merged)
    assert merged["frrk8s"]["enabled"] is False
    assert merged["controller"]["image"]["repository"] == "quay.io/metallb/controller"
    # Negative controls: a wrong type, and a required object missing after the merge.
    with pytest.raises(jsonschema.ValidationError):
        v7.validate(_coalesce(merged, {"controller": {"logLevel": "loud"}}))
    without = {k: v for k, v in merged.items() if k != "speaker"}
    with pytest.raises(jsonschema.ValidationError):
        v7.validate(without)


METALLB = "load_balancer:\n  type: metallb\n  node_network: 192.168.1.0/24\n"


@pytest.mark.parametrize(
    ("snippet", "field", "message"),
    [
        (METALLB + '  addresses: ["10.0.0.1-10.0.0.9"]\n', "load_balancer.addresses[0]",
         "is not inside node_network 192.168.1.0/24"),
        (METALLB + '  addresses: ["192.168.1.1-192.168.1.9"]\n', "load_balancer.addresses[0]",
         "includes the router's address 192.168.1.1"),
        (METALLB + '  router: 192.168.1.254\n  addresses: ["192.168.1.250-192.168.1.254"]\n',
         "load_balancer.addresses[0]", "includes the router's address 192.168.1.254"),
        (METALLB + '  addresses: ["192.168.1.248/29"]\n', "load_balancer.addresses[0]",
         "includes the network or broadcast address"),
        (METALLB + '  addresses: ["192.168.1.250-192.168.1.240"]\n',
         "load_balancer.addresses[0]", "the first address is after the last"),
        (METALLB + '  addresses: ["192.168.1.240/27"]\n', "load_balancer.addresses[0]",
         "has host bits set"),
        (METALLB + '  addresses: ["lots"]\n', "load_balancer.addresses[0]",
         "is not an address range"),
        (METALLB + '  addresses: ["192.168.1.240-192.168.1.250", "192.168.1.245/32"]\n',
         "load_balancer.addresses[1]", "overlaps load_balancer.addresses[0]"),
        ("load_balancer:\n  type: metallb\n  node_network: 203.0.113.0/24\n"
         '  addresses: ["203.0.113.10-203.0.113.20"]\n', "load_balancer.node_network",
         "is not a private network"),
        ("load_balancer:\n  type: metallb\n  node_network: 192.168.1.7/24\n"
         '  addresses: ["192.168.1.240-192.168.1.250"]\n', "load_balancer.node_network",
         "did you mean 192.168.1.0/24"),
        (METALLB + '  router: 192.168.2.1\n  addresses: ["192.168.1.240-192.168.1.250"]\n',
         "load_balancer.router", "is not in node_network"),
        (METALLB, "load_balancer.addresses", "metallb needs the addresses"),
        ('load_balancer:\n  type: metallb\n  addresses: ["192.168.1.240-192.168.1.250"]\n',
         "load_balancer.node_network", "metallb needs the network of your nodes"),
        (METALLB + '  addresses: ["192.168.1.240-192.168.1.250"]\ncomponents:\n  traefik:\n'
         "    load_balancer_ip: 192.168.1.20\n", "components.traefik.load_balancer_ip",
         "is not in load_balancer.addresses"),
        ('load_balancer:\n  type: servicelb\n  addresses: ["192.168.1.240-192.168.1.250"]\n',
         "load_balancer.addresses", "only used with type: metallb"),
        ("load_balancer:\n  type: nodeport\ncomponents:\n  traefik:\n"
         "    load_balancer_ip: 192.168.1.20\n", "components.traefik.load_balancer_ip",
         "type nodeport has no load balancer address"),
        ("load_balancer:\n  type: nodeport\n  http_node_port: 80\n",
         "load_balancer.http_node_port", "30000"),
        ("load_balancer:\n  type: nodeport\n  http_node_port: 30443\n",
         "load_balancer.https_node_port", "must differ"),
        ("load_balancer:\n  type: klipper\n", "load_balancer.type", "servicelb"),
    ],
)  # fmt: skip
def test_bad_address_ranges_exit_2_naming_the_field(
    snippet: str,
    field: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`homeport render` refuses each: exit 2, the field named first, nothing written."""
    config = tmp_path / "homeport.yaml"
    config.write_text(BASE + snippet)
    code, out = cli(["render", "-c", str(config)], monkeypatch, capsys)
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f": {field}: " in lines[0] and message in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["homeport.yaml"]
    with pytest.raises(ConfigError):
        load_config(config)


def test_good_ranges_and_defaults() -> None:
    """The default is servicelb (nothing rendered); IPv6 ULA pools work; router defaults to .1."""
    cfg = parse_config(BASE)
    assert cfg.load_balancer.type == "servicelb"
    names = {a for a in render_tree(cfg).files if a.startswith("apps/")}
    assert "apps/metallb.yaml" not in names
    v6 = parse_config(
        BASE + "load_balancer:\n  type: metallb\n  node_network: fd00:1::/64\n"
        '  addresses: ["fd00:1::100-fd00:1::1ff"]\n'
    )
    assert v6.load_balancer.addresses == ["fd00:1::100-fd00:1::1ff"]
    lb = parse_config(BASE + METALLB + '  addresses: ["192.168.1.2-192.168.1.9"]\n')
    assert str(lb.load_balancer.router_address()) == "192.168.1.1"
