"""Property: random valid objects pass schema validation, and the same objects with one
field broken (unknown key, wrong type, wrong enum value) are caught."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeport.check.schemas import SchemaStore
from homeport.check.sources import default_crd_dirs, find_openapi_dir

_STORE: SchemaStore | None = None


def store() -> SchemaStore:
    global _STORE
    if _STORE is None:
        s = SchemaStore()
        d = find_openapi_dir("1.36")
        assert d is not None
        s.load_openapi_dir(d)
        s.load_crd_dirs(default_crd_dirs())
        _STORE = s
    return _STORE


names = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)
ports = st.integers(min_value=1, max_value=65535)
quantities = st.sampled_from(["50m", "1", "128Mi", "2Gi", "0.5"])


@st.composite
def deployments(draw: Any) -> dict[str, Any]:
    name = draw(names)
    labels = {"app": name}
    container: dict[str, Any] = {
        "name": draw(names),
        "image": f"registry.example/{draw(names)}:{draw(st.integers(0, 99))}.0",
        "ports": [
            {"containerPort": draw(ports), "protocol": draw(st.sampled_from(["TCP", "UDP"]))}
        ],
        "resources": {"requests": {"cpu": draw(quantities), "memory": draw(quantities)}},
        "imagePullPolicy": draw(st.sampled_from(["Always", "IfNotPresent", "Never"])),
    }
    if draw(st.booleans()):
        container["env"] = [{"name": "K", "value": draw(st.text(max_size=5))}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": draw(names), "labels": labels},
        "spec": {
            "replicas": draw(st.integers(0, 10)),
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


@st.composite
def services(draw: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": draw(names)},
        "spec": {
            "type": draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"])),
            "ports": [{"port": draw(ports), "targetPort": draw(st.one_of(ports, names))}],
        },
    }


@st.composite
def ingressroutes(draw: Any) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": draw(names), "namespace": draw(names)},
        "spec": {
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": f"Host(`{draw(names)}.example.com`)",
                    "services": [{"name": draw(names), "port": draw(st.one_of(ports, names))}],
                }
            ],
        },
    }


objects = st.one_of(deployments(), services(), ingressroutes())


def _gvk(obj: dict[str, Any]) -> tuple[str, str, str]:
    av = obj["apiVersion"]
    g, v = av.split("/") if "/" in av else ("", av)
    return g, v, obj["kind"]


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, obj)]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*path, i))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=objects, data=st.data())
def test_one_broken_field_is_caught(obj: dict[str, Any], data: Any) -> None:
    v = store().validator(_gvk(obj))
    assert v.is_valid(obj), list(v.iter_errors(obj))
    broken = copy.deepcopy(obj)
    candidates = [
        (p, x)
        for p, x in _paths(broken)
        # Labels, selectors and resource lists are maps: any key is valid there.
        if p and p[-1] not in ("labels", "matchLabels", "requests", "limits")
    ]
    mutation = data.draw(st.sampled_from(["unknown-key", "wrong-type"]))
    if mutation == "unknown-key":
        dicts = [(p, x) for p, x in candidates if isinstance(x, dict)] + [((), broken)]
        path, target = data.draw(st.sampled_from(dicts))
        target["zzUnknownField"] = 1
    else:
        scalars = [
            (p, x) for p, x in candidates if isinstance(x, (int, str)) and not isinstance(x, bool)
        ]
        path, value = data.draw(st.sampled_from(scalars))
        parent = _get(broken, path[:-1])
        # A list where a scalar belongs is wrong for every scalar field (int-or-string too).
        parent[path[-1]] = [value]
    assert not v.is_valid(broken), (mutation, path)
