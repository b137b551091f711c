"""CEL as the API server evaluates it: `homeport check` and a server-side dry-run must agree.

Real: kube-apiserver (tests/cluster/apiserver.py) with every CRD of ``$HOMEPORT_CRD_DIR``
installed; each generated object is POSTed with ``dryRun=All&fieldValidation=Strict``, so the
server runs its OpenAPI validation, defaulting and cel-go on it. The same objects are written
into one tree and checked by the real ``check_tree``. Nothing is faked.

The corpus: for every node of every CRD that carries ``x-kubernetes-validations`` (transition
rules excepted: nothing is ever updated here), objects are generated around a minimal valid
object: every field a rule names is absent or takes values from the rule's own literals, the
field's enum, boundary numbers, empty and non-empty strings and lists, and (for a rule
on ``duration(self)``) valid, fractional, out-of-range and malformed durations. Combinations
are sampled with a fixed seed, so the corpus is the same on every run. Negative controls:
the corpus must hold both objects the server accepts and objects it rejects for a CEL rule,
at every site.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from homeport import yamlio
from homeport.check import check_tree

from .apiserver import ApiServer

pytestmark = pytest.mark.cluster

CRD_ROOT = Path(os.environ["HOMEPORT_CRD_DIR"])
NAMESPACE = "cel-oracle"
PER_SITE = 80  # sampled combinations per rule site, on top of the one-field variations
ABSENT = object()
_SCHEMA_RULES = {"HP-S002", "HP-S003", "HP-S004"}


def all_crds() -> list[dict[str, Any]]:
    out = []
    for f in sorted(CRD_ROOT.rglob("*.yaml")):
        for doc in yamlio.load_all(f.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                out.append(doc)
    return out


@dataclass
class Site:
    """A schema node with CEL rules: where in which kind, and what the rules say."""

    crd: dict[str, Any]
    version: str
    path: tuple[str, ...]  # property names; "[]" for a list item, "{}" for a map value
    node: dict[str, Any]
    rules: list[dict[str, Any]]
    root: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.crd["spec"]["names"]["kind"])

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.version}:{'.'.join(self.path) or '(root)'}"


def sites(crds: list[dict[str, Any]]) -> list[Site]:
    out: list[Site] = []

    def walk(crd: Any, version: str, root: Any, node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        rules = [
            r
            for r in node.get("x-kubernetes-validations") or []
            if "oldSelf" not in r.get("rule", "")
        ]
        if rules:
            out.append(Site(crd, version, path, node, rules, root))
        for name, sub in (node.get("properties") or {}).items():
            walk(crd, version, root, sub, (*path, name))
        if isinstance(node.get("items"), dict):
            walk(crd, version, root, node["items"], (*path, "[]"))
        if isinstance(node.get("additionalProperties"), dict):
            walk(crd, version, root, node["additionalProperties"], (*path, "{}"))

    for crd in crds:
        for v in crd["spec"]["versions"]:
            if not v.get("served", True):
                continue
            schema = (v.get("schema") or {}).get("openAPIV3Schema") or {}
            walk(crd, v["name"], schema, schema, ())
    return out


# -- values ---------------------------------------------------------------------------------


def minimal(schema: dict[str, Any]) -> Any:
    """The smallest value the schema accepts (required fields only)."""
    if "enum" in schema:
        return copy.deepcopy(schema["enum"][0])
    if schema.get("x-kubernetes-int-or-string"):
        return 1
    t = schema.get("type")
    if t == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: minimal(props.get(k) or {}) for k in schema.get("required") or []}
    if t == "array":
        return [minimal(schema.get("items") or {}) for _ in range(schema.get("minItems", 0))]
    if t == "string":
        if schema.get("format") == "duration":
            return "1s"
        return "x" * max(1, schema.get("minLength", 1))
    if t in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if t == "boolean":
        return False
    return {}


_DURATIONS = ["0s", "1s", "1.5s", "1500ms", "65535s", "65536s", "1h", "-1s", "90m", "bogus", "5"]


def candidates(schema: dict[str, Any], literals: list[Any]) -> list[Any]:
    """Values worth trying for one field: each side of every comparison a rule can make."""
    if "enum" in schema:
        return [copy.deepcopy(v) for v in schema["enum"]] + [
            v for v in literals if isinstance(v, str)
        ]
    t = schema.get("type")
    if t == "string" or schema.get("x-kubernetes-int-or-string"):
        out = ["", "x", "/a", "postgres-x"] + [v for v in literals if isinstance(v, str)]
        return list(dict.fromkeys(out))
    if t == "integer":
        ints = [v for v in literals if isinstance(v, int) and not isinstance(v, bool)]
        return list(dict.fromkeys([-1, 0, 1, 2, 31, 32, 33, 128, *ints]))
    if t == "number":
        return [-1.5, 0, 0.5, 1]
    if t == "boolean":
        return [True, False]
    if t == "array":
        item = minimal(schema.get("items") or {})
        return [[], [item], [item, copy.deepcopy(item)]]
    if t == "object" or "properties" in schema:
        m = minimal(schema)
        return [m] if m == {} else [m, {}]
    return [{}]


def literals(rules: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for r in rules:
        text = r["rule"]
        out += re.findall(r"'([^']*)'", text)
        out += [int(n) for n in re.findall(r"(?<![\w.])(\d+)(?![\w.])", text)]
    return out


def named_fields(rules: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for r in rules:
        names += re.findall(r"\bself\.([A-Za-z_]\w*)", r["rule"])
    return list(dict.fromkeys(names))


def self_values(site: Site) -> list[Any]:
    """Generated values for the rule's ``self``."""
    node, lits = site.node, literals(site.rules)
    props = node.get("properties") or {}
    names = [n for n in named_fields(site.rules) if n in props]
    if not names:  # a scalar (or opaque) self
        if any("duration(self)" in r["rule"] for r in site.rules):
            return list(_DURATIONS)
        return candidates(node, lits)
    required = set(node.get("required") or [])
    choices = [([] if n in required else [ABSENT]) + candidates(props[n], lits) for n in names]
    base = minimal(node)

    def build(combo: tuple[Any, ...]) -> Any:
        v = copy.deepcopy(base)
        for n, c in zip(names, combo, strict=True):
            if c is ABSENT:
                v.pop(n, None)
            else:
                v[n] = copy.deepcopy(c)
        return v

    combos: list[tuple[Any, ...]] = []
    first = tuple(c[0] for c in choices)
    combos.append(first)
    for i, c in enumerate(choices):  # every value of every field once
        for value in c[1:]:
            combos.append((*first[:i], value, *first[i + 1 :]))
    rng = random.Random(site.key)
    combos += [tuple(rng.choice(c) for c in choices) for _ in range(PER_SITE)]
    out: list[Any] = []
    seen: set[str] = set()
    for combo in combos:
        v = build(combo)
        k = json.dumps(v, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def embed(site: Site, value: Any, name: str) -> dict[str, Any]:
    """A whole object of the site's kind with ``value`` at the site's path."""
    crd = site.crd
    namespaced = crd["spec"]["scope"] == "Namespaced"
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = NAMESPACE
    obj: dict[str, Any] = {
        "apiVersion": f"{crd['spec']['group']}/{site.version}",
        "kind": site.kind,
        "metadata": meta,
    }
    root_props = site.root.get("properties") or {}
    for k in site.root.get("required") or []:
        if k not in obj:
            obj[k] = minimal(root_props.get(k) or {})
    if not site.path:
        return {**value, **obj} if isinstance(value, dict) else obj
    cur: Any = obj
    node: dict[str, Any] = site.root
    for i, step in enumerate(site.path):
        last = i == len(site.path) - 1
        if step == "[]":
            node = node["items"]
            cur.append(value if last else minimal(node))
            cur = cur[-1]
        elif step == "{}":
            node = node["additionalProperties"]
            cur["k"] = value if last else minimal(node)
            cur = cur["k"]
        else:
            node = (node.get("properties") or {})[step]
            if last:
                cur[step] = value
            else:
                if step not in cur:
                    cur[step] = minimal(node)
                if node.get("type") == "array":
                    cur[step] = []
            cur = cur[step]
    return obj


# -- the two verdicts --------------------------------------------------------------------


class Server:
    """Dry-run creates against the API server: (accepted, message)."""

    def __init__(self, apiserver: ApiServer) -> None:
        pki = apiserver.workdir / "pki"
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "probe.crt"), str(pki / "probe.key"))
        self.url = apiserver.url

    def request(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def create_dry_run(self, site: Site, obj: dict[str, Any]) -> tuple[bool, str]:
        spec = site.crd["spec"]
        ns = f"/namespaces/{NAMESPACE}" if spec["scope"] == "Namespaced" else ""
        path = (
            f"/apis/{spec['group']}/{site.version}{ns}/{spec['names']['plural']}"
            "?dryRun=All&fieldValidation=Strict"
        )
        code, answer = self.request("POST", path, obj)
        if code in (200, 201):
            return True, ""
        assert code == 422, (code, answer)  # invalid: anything else is a harness problem
        return False, str(answer.get("message", ""))


def install_crds(server: Server, crds: list[dict[str, Any]]) -> None:
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in crds:
        name = crd["metadata"]["name"]
        code, _ = server.request("POST", base, {k: v for k, v in crd.items() if k != "status"})
        assert code in (201, 409), (name, code)  # 409: another test installed the same file
    server.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})


def _wait_served(server: Server, site: Site) -> None:
    spec = site.crd["spec"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        req = urllib.request.Request(f"{server.url}/apis/{spec['group']}/{site.version}")
        try:
            with urllib.request.urlopen(req, context=server.ctx, timeout=10) as resp:
                names = {r["name"] for r in json.loads(resp.read())["resources"]}
            if spec["names"]["plural"] in names:
                return
        except urllib.error.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{site.kind} {site.version} is not served")


def test_check_and_the_api_server_agree_on_every_crd_rule(
    apiserver: ApiServer, tmp_path: Path
) -> None:
    crds = all_crds()
    found = sites(crds)
    assert len(found) >= 19, [s.key for s in found]  # the pinned CRDs hold 19 rule sites
    server = Server(apiserver)
    install_crds(server, crds)
    for s in found:
        _wait_served(server, s)

    cases: list[tuple[Site, str, dict[str, Any]]] = []
    for s in found:
        for value in self_values(s):
            name = f"c{len(cases):05d}"
            cases.append((s, name, embed(s, value, name)))
    tree = tmp_path / "tree"
    for _s, name, obj in cases:
        (tree / "cases").mkdir(parents=True, exist_ok=True)
        (tree / "cases" / f"{name}.yaml").write_text(yamlio.dump(obj), encoding="utf-8")
    report = check_tree(tree, crd_dirs=[CRD_ROOT])
    rejected: dict[str, list[str]] = {}
    for f in report.findings:
        if f.rule_id in _SCHEMA_RULES:
            rejected.setdefault(Path(f.file).stem, []).append(f"{f.rule_id} {f.message}")

    disagreements: list[str] = []
    per_site: dict[str, dict[str, int]] = {}
    for s, name, obj in cases:
        ok, message = server.create_dry_run(s, obj)
        ours = name not in rejected
        counts = per_site.setdefault(s.key, {"accepted": 0, "cel": 0, "other": 0})
        if ok:
            counts["accepted"] += 1
        elif "Invalid value" in message and any(
            (r.get("message") or r["rule"]) in message for r in s.rules
        ):
            counts["cel"] += 1
        else:
            counts["other"] += 1
        if ok != ours:
            disagreements.append(
                f"{s.key} {json.dumps(obj.get('spec', obj))[:300]}: server "
                f"{'accepts' if ok else 'rejects: ' + message[:300]}; check "
                f"{'accepts' if ours else 'rejects: ' + '; '.join(rejected[name])[:300]}"
            )
    print(f"\nCEL oracle: {len(cases)} objects over {len(found)} rule sites")
    for key, c in sorted(per_site.items()):
        print(f"  {key}: {c}")
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(
        disagreements[:40]
    )
    # Negative controls: every site was seen passing and failing one of its own rules.
    for key, c in per_site.items():
        assert c["accepted"] > 0, (key, c)
        assert c["cel"] > 0, (key, c)


# -- semantics the pinned rules do not reach: a probe CRD --------------------------------

PROBE_RULES = [
    "self.a / self.b == self.q",  # integer division truncates toward zero
    "self.a % self.b == self.r",  # the remainder has the dividend's sign
    "self.o.x == 'v' || !has(self.o)",  # an error on the left, true on the right
    "has(self.o) && self.o.x == 'v' || !has(self.o) || self.o.x != 'v'",
    "self.s.size() < 3 || self.s.startsWith('ab')",
]


def probe_crd() -> dict[str, Any]:
    props = {
        "a": {"type": "integer"},
        "b": {"type": "integer"},
        "q": {"type": "integer"},
        "r": {"type": "integer"},
        "s": {"type": "string", "maxLength": 8},
        "o": {"type": "object", "properties": {"x": {"type": "string", "maxLength": 8}}},
    }
    spec = {
        "type": "object",
        "required": ["a", "b", "q", "r", "s"],
        "properties": props,
        "x-kubernetes-validations": [
            {"rule": r, "message": f"probe {i}"} for i, r in enumerate(PROBE_RULES)
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "probes.oracle.homeport.dev"},
        "spec": {
            "group": "oracle.homeport.dev",
            "scope": "Namespaced",
            "names": {
                "kind": "Probe",
                "plural": "probes",
                "singular": "probe",
                "listKind": "ProbeList",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec},
                        }
                    },
                }
            ],
        },
    }


def probe_specs() -> list[dict[str, Any]]:
    rng = random.Random("probe")
    out = []
    for a in range(-7, 8):
        for b in (-3, -2, 2, 3, 0):
            trunc = int(a / b) if b else 0
            floor = a // b if b else 0
            rem = a - b * trunc if b else 0
            for q, r in {(trunc, rem), (floor, rem), (trunc, a % b if b else 1)}:
                out.append({"a": a, "b": b, "q": q, "r": r, "s": "abc"})
    for o in (None, {}, {"x": "v"}, {"x": "w"}):
        for s in ("", "ab", "abc", "xyz", "abcd"):
            spec: dict[str, Any] = {"a": 1, "b": 1, "q": 1, "r": 0, "s": s}
            if o is not None:
                spec["o"] = o
            out.append(spec)
    rng.shuffle(out)
    return out


def test_cel_semantics_agree_with_the_api_server_on_a_probe_crd(
    apiserver: ApiServer, tmp_path: Path
) -> None:
    """Division, remainder, error absorption and short strings, through a CRD of our own."""
    crd = probe_crd()
    server = Server(apiserver)
    install_crds(server, [crd])
    site = Site(crd, "v1", ("spec",), crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], [])
    _wait_served(server, site)
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    (crd_dir / "probe.yaml").write_text(yamlio.dump(crd), encoding="utf-8")
    tree = tmp_path / "tree"
    (tree / "cases").mkdir(parents=True)
    specs = probe_specs()
    objs = []
    for i, spec in enumerate(specs):
        obj = {
            "apiVersion": "oracle.homeport.dev/v1",
            "kind": "Probe",
            "metadata": {"name": f"p{i:04d}", "namespace": NAMESPACE},
            "spec": spec,
        }
        objs.append(obj)
        (tree / "cases" / f"p{i:04d}.yaml").write_text(yamlio.dump(obj), encoding="utf-8")
    report = check_tree(tree, crd_dirs=[crd_dir])
    rejected = {Path(f.file).stem for f in report.findings if f.rule_id in _SCHEMA_RULES}
    disagreements = []
    accepted = 0
    for obj in objs:
        ok, message = server.create_dry_run(site, obj)
        accepted += ok
        if ok != (obj["metadata"]["name"] not in rejected):
            disagreements.append(f"{obj['spec']}: server {'accepts' if ok else message[:200]}")
    print(f"\nCEL probe: {len(objs)} objects, {accepted} accepted by the server")
    assert not disagreements, f"{len(disagreements)} disagreements:\n" + "\n".join(
        disagreements[:30]
    )
    assert 0 < accepted < len(objs)  # negative control: both verdicts occur
