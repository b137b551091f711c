"""Options resolution, token handling, the status document and its ConfigMap (real API server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from configs import base_yaml
from homeport.config import parse_config
from homeport.ddns.options import RawOptions, parse_listen, read_token, record_fqdn, resolve
from homeport.ddns.reconcile import RecordState
from homeport.ddns.status import STATUS_KEY, encode, status_document
from homeport.errors import UsageError

BASE = base_yaml(git_url="https://github.com/x/y.git")


def test_record_names() -> None:
    assert record_fqdn("@", "example.com") == "example.com"
    assert record_fqdn("*", "example.com") == "*.example.com"
    assert record_fqdn("VPN", "example.com") == "vpn.example.com"
    assert record_fqdn("home.example.com.", "example.com") == "home.example.com"
    assert record_fqdn("*.lab", "example.com") == "*.lab.example.com"
    with pytest.raises(UsageError, match="--record"):
        record_fqdn("bad name", "example.com")


def test_resolve_defaults_and_config() -> None:
    o = resolve(RawOptions(zone="Example.COM"))
    assert o.zone == "example.com" and o.records == ("example.com", "*.example.com")
    assert o.families == ("ipv4",) and o.interval == 300 and o.ttl == 1
    assert [str(p) for p in o.providers] == ["cloudflare.trace", "cloudflare.doh", "ipify"]
    assert o.owner_comment == "managed-by: homeport" and o.listen == ("0.0.0.0", 9090)
    cfg = parse_config(
        BASE + "cloudflare:\n  ipv6: true\n  ipv4: false\n  proxied: true\n  records: [www]\n"
        "components:\n  ddns:\n    ip_providers: ['static:81.2.69.1']\n"
    )
    o = resolve(RawOptions(), cfg)
    assert o.records == ("www.example.com",) and o.families == ("ipv6",) and o.proxied
    assert [str(p) for p in o.providers] == ["static:81.2.69.1"]
    o = resolve(RawOptions(ipv4=True, proxied=False, records=["@"]), cfg)
    assert o.families == ("ipv4", "ipv6") and not o.proxied and o.records == ("example.com",)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (RawOptions(), "--zone is required"),
        (RawOptions(zone="example.com", ipv4=False), "--no-ipv4 and --no-ipv6"),
        (RawOptions(zone="example.com", ttl=5), "--ttl"),
        (RawOptions(zone="example.com", interval="5 minutes"), "--interval"),
        (RawOptions(zone="example.com", ip_providers=["url:ftp://x"]), "--ip-provider"),
        (RawOptions(zone="example.com", ip_providers=["static:nope"]), "static: must be followed"),
        (RawOptions(zone="example.com", records=["@", "@"]), "given twice"),
        (RawOptions(zone="example.com", owner_comment=""), "--owner-comment"),
        (RawOptions(zone="example.com", owner_comment="a\nb"), "--owner-comment must be one line"),
        (RawOptions(zone="example.com", zone_id="../zones"), "--zone-id"),
        (RawOptions(zone="example.com", api_url="api.cloudflare.com"), "--api-url"),
        (RawOptions(zone="example.com", listen="9090"), "--listen"),
    ],
)
def test_resolve_rejects_bad_input(raw: RawOptions, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as exc:
        resolve(raw)
    assert exc.value.exit_code == 2


def test_listen_forms() -> None:
    assert parse_listen("[::]:9090") == ("::", 9090)
    assert parse_listen(":8080") == ("0.0.0.0", 8080)


def test_token_sources(tmp_path: Path) -> None:
    f = tmp_path / "t"
    f.write_text("  from-file\n")
    assert read_token("from-env", f) == "from-file"
    assert read_token("from-env", None) == "from-env"
    with pytest.raises(UsageError, match="CLOUDFLARE_API_TOKEN"):
        read_token(None, None)
    with pytest.raises(UsageError, match="cannot read") as exc:
        read_token(None, tmp_path / "missing")
    assert "from-env" not in str(exc.value)


def test_status_document_format() -> None:
    doc = status_document(
        last_run=1_700_000_000,
        last_success=None,
        addresses={"ipv4": "81.2.69.1"},
        records=[RecordState("example.com", "A", "81.2.69.1", "updated")],
        last_error="boom",
        consecutive_failures=2,
    )
    assert json.loads(encode(doc)) == {
        "lastRun": "2023-11-14T22:13:20Z",
        "lastSuccess": None,
        "addresses": {"ipv4": "81.2.69.1", "ipv6": None},
        "records": [
            {"name": "example.com", "type": "A", "content": "81.2.69.1", "state": "updated"}
        ],
        "lastError": "boom",
        "consecutiveFailures": 2,
    }
    assert encode(doc) == encode(dict(reversed(list(doc.items()))))  # key order never matters


@pytest.mark.cluster
def test_status_configmap_published_with_the_platform_role() -> None:
    """The platform Role lets the controller write its status ConfigMap and nothing else."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "cluster"))
    from apiserver import shared_apiserver  # type: ignore[import-not-found]
    from lightkube import Client, KubeConfig
    from lightkube.core.exceptions import ApiError
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap, Namespace
    from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

    from homeport.ddns.status import ConfigMapPublisher
    from homeport.platform import ddns as platform_ddns

    api = shared_apiserver()
    admin = Client(config=KubeConfig.from_file(str(api.kubeconfig)))
    ns = "cloudflare-ddns"
    try:
        admin.create(Namespace(metadata=ObjectMeta(name=ns)))
    except ApiError as exc:
        if exc.status.code != 409:
            raise
    [comp] = platform_ddns.components(parse_config(BASE))
    for obj in comp.objects:
        if obj["kind"] in ("Role", "RoleBinding"):
            res = Role if obj["kind"] == "Role" else RoleBinding
            admin.apply(res.from_dict(obj), field_manager="test", force=True)
    user = f"system:serviceaccount:{ns}:homeport-ddns"
    kc = api.write_user_kubeconfig(user, ("system:serviceaccounts",))
    sa_client = Client(config=KubeConfig.from_file(str(kc)), field_manager="homeport-ddns")
    doc = {"lastRun": "2026-01-01T00:00:00Z", "consecutiveFailures": 0}
    pub = ConfigMapPublisher("homeport-ddns-status", ns, client=sa_client)
    pub.publish(doc)
    pub.publish({**doc, "consecutiveFailures": 1})  # second write: an update of the same object
    cm = admin.get(ConfigMap, "homeport-ddns-status", namespace=ns)
    assert cm.data is not None
    assert json.loads(cm.data[STATUS_KEY])["consecutiveFailures"] == 1
    # Any other ConfigMap is out of reach (the publisher logs and carries on).
    ConfigMapPublisher("other", ns, client=sa_client).publish(doc)
    with pytest.raises(ApiError) as exc:
        admin.get(ConfigMap, "other", namespace=ns)
    assert exc.value.status.code == 404
