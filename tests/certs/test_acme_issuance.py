"""A real certificate for the rendered issuers: cert-manager, pebble, DNS-01 via Cloudflare.

Real: etcd + kube-apiserver (tests/cluster/apiserver.py) with the pinned cert-manager CRDs;
cert-manager's controller v1.21.1 (upstream cmd/controller; built with ONE patched
dependency, vcert v5.12.3 + a stub NGTS connector, because the module proxy here refuses the
vcert v5.13+ it requires; only Venafi issuers use vcert, never ACME), run with the args the
pinned chart renders (real ``helm template``) from the tree's cert-manager values plus loopback
addresses, as the chart's ServiceAccount under the chart's RBAC, with leader election on;
pebble v2.10.3 (Let's Encrypt's ACME test server) and pebble-challtestsrv (the DNS server
pebble's DNS-01 validation and cert-manager's self-check query); ``homeport init`` /
``render`` / ``status`` as processes; the SealedSecret opened with the sealing key.

Stand-in: the Cloudflare v4 API (tests/ddns/emulator.py), reached by cert-manager's fixed
``https://api.cloudflare.com`` URL through HTTPS_PROXY = a loopback CONNECT proxy that
terminates TLS with a test CA (SSL_CERT_FILE); it mirrors ``_acme-challenge`` TXT records
into challtestsrv, as Cloudflare's nameservers would serve them.

The only change to the rendered objects: the issuers' ACME server URL and caBundle
(:func:`conftest.point_issuers_at_pebble`). cert-manager waits a fixed 60 s after each
successful self-check and solves the apex and the wildcard (same ``_acme-challenge`` name)
one after the other, so issuance takes about two minutes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lightkube.types import PatchType

from homeport.cluster.kube import Kube, connect
from homeport.cluster.status import certificate_checks, collect

from .conftest import DDNS_RECORD, DOMAIN, TOKEN, Stack, condition, run_homeport

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ACME_NAME = f"_acme-challenge.{DOMAIN}"
ISSUE_TIMEOUT = 300.0


def _get(kube: Kube, kind: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
    api = "v1" if kind == "Secret" else "cert-manager.io/v1"
    if kind in ("Order", "Challenge"):
        api = "acme.cert-manager.io/v1"
    return kube.get(api, kind, name, ns)


def _delete(kube: Kube, api_version: str, kind: str, name: str, ns: str | None) -> None:
    """Delete an object; strip its finalizers (cert-manager's cleanup may be what failed)."""
    cls = kube._cls(kube.require_type(api_version, kind))
    client = kube._client
    try:
        client.patch(
            cls, name, {"metadata": {"finalizers": None}}, namespace=ns, patch_type=PatchType.MERGE
        )
        client.delete(cls, name, namespace=ns)
    except Exception as exc:  # already gone
        if "not found" not in str(exc).lower():
            raise


def _dns_names(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def _status_json(stack: Stack) -> tuple[int, dict[str, Any]]:
    r = run_homeport(
        ["status", "--kubeconfig", str(stack.api.kubeconfig), "-o", "json"], stack.tree.home
    )
    return r.returncode, json.loads(r.stdout)


def _cert_check(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (check,) = [c for c in doc["checks"] if c["section"] == "certificates" and c["name"] == name]
    return dict(check)


def test_controller_runs_with_the_rendered_chart_flags(stack: Stack) -> None:
    """The chart's args from the tree's values reach the controller; only addresses differ."""
    args = stack.cm.args
    assert "--dns01-recursive-nameservers-only=true" in args
    assert f"--dns01-recursive-nameservers={stack.chall.dns}" in args
    assert "--cluster-resource-namespace=cert-manager" in args
    assert "--leader-election-namespace=cert-manager" in args
    assert not [a for a in args if a.startswith("--leader-elect=")]  # on, as in the chart
    # It runs as the chart's ServiceAccount with the chart's RBAC, not as an admin.
    (kubeconfig,) = [a.split("=", 1)[1] for a in args if a.startswith("--kubeconfig=")]
    with connect(Path(kubeconfig)) as sa:
        assert sa.can("create", "coordination.k8s.io", "leases", "cert-manager")
        assert sa.can("create", "", "secrets", "traefik")
        assert not sa.can("create", "", "namespaces")  # negative control
        assert not sa.can("create", "apiextensions.k8s.io", "customresourcedefinitions")
    # Negative control: the tree itself asks for public resolvers, which the test replaced.
    values = stack.tree.app_values("cert-manager")
    assert values["dns01RecursiveNameserversOnly"] is True
    assert "127.0.0.1" not in values["dns01RecursiveNameservers"]


def test_issuers_register_acme_accounts(stack: Stack) -> None:
    """Both rendered ClusterIssuers register an account with pebble (ACMEAccountRegistered)."""
    names = sorted(i["metadata"]["name"] for i in stack.issuers)
    assert names == ["letsencrypt-production", "letsencrypt-staging"]

    def ready() -> bool:
        conds = [condition(_get(stack.kube, "ClusterIssuer", n)) for n in names]
        return all(c and c["status"] == "True" for c in conds)

    stack.wait("ClusterIssuers Ready", ready, 120)
    stack.timings["issuers_ready"] = time.monotonic()
    for n in names:
        issuer = _get(stack.kube, "ClusterIssuer", n)
        c = condition(issuer)
        assert c and c["reason"] == "ACMEAccountRegistered", c
        assert issuer and issuer["status"]["acme"]["uri"].startswith(
            stack.pebble.directory.removesuffix("/dir")
        )
        key = _get(stack.kube, "Secret", f"{n}-account-key", "cert-manager")
        assert key is not None, f"account key Secret of {n} missing"
    # The two accounts are distinct (one private key each).
    uris = {_get(stack.kube, "ClusterIssuer", n)["status"]["acme"]["uri"] for n in names}  # type: ignore[index]
    assert len(uris) == 2
    # The applied issuers are the rendered ones except the ACME server and its CA bundle.
    for rendered, applied in zip(
        sorted(stack.tree.all("ClusterIssuer"), key=lambda i: i["metadata"]["name"]),
        sorted(stack.issuers, key=lambda i: i["metadata"]["name"]),
        strict=True,
    ):
        a = json.loads(json.dumps(applied))
        del a["spec"]["acme"]["caBundle"]
        a["spec"]["acme"]["server"] = rendered["spec"]["acme"]["server"]
        assert a == rendered


@pytest.fixture(scope="module")
def issued(stack: Stack) -> dict[str, Any]:
    """Apply the rendered wildcard Certificate and wait until cert-manager says it is Ready."""
    if "issuers_ready" not in stack.timings:
        test_issuers_register_acme_accounts(stack)
    stack.cf.changes.clear()
    stack.cf.reset_calls()
    before = stack.cf.snapshot()
    cert = stack.certificate
    ns, name = cert["metadata"]["namespace"], cert["metadata"]["name"]
    stack.kube.apply(cert)
    t0 = time.monotonic()

    def ready() -> dict[str, Any] | None:
        got = _get(stack.kube, "Certificate", name, ns)
        c = condition(got)
        return got if c and c["status"] == "True" else None

    obj: dict[str, Any] = stack.wait("wildcard Certificate Ready", ready, ISSUE_TIMEOUT, 1.0)
    stack.timings["cert_ready"] = time.monotonic()
    stack.timings["issuance_s"] = stack.timings["cert_ready"] - max(
        t0, stack.timings["issuers_ready"]
    )
    print(f"\nissuance: {stack.timings['issuance_s']:.1f} s after the issuers were Ready")
    return {"obj": obj, "before": before}


def test_wildcard_certificate_issued_into_the_tls_store_secret(
    stack: Stack, issued: dict[str, Any]
) -> None:
    """The Secret the Traefik TLSStore reads holds a pebble-issued cert for apex + wildcard."""
    traefik = stack.tree.app_values("traefik")
    secret_name = traefik["tlsStore"]["default"]["defaultCertificate"]["secretName"]
    ns = stack.tree.app_namespace("traefik")
    assert stack.certificate["spec"]["secretName"] == secret_name
    assert stack.certificate["metadata"]["namespace"] == ns
    secret = _get(stack.kube, "Secret", secret_name, ns)
    assert secret is not None
    assert secret["type"] == "kubernetes.io/tls"
    chain = x509.load_pem_x509_certificates(base64.b64decode(secret["data"]["tls.crt"]))
    leaf = chain[0]
    assert _dns_names(leaf) == {DOMAIN, f"*.{DOMAIN}"}
    # Issued by pebble: the chain ends at pebble's root of this run...
    root = stack.pebble.root()
    for child, parent in zip(chain, [*chain[1:], root], strict=True):
        child.verify_directly_issued_by(parent)
    # ...and not by the test CA that signed pebble's and the proxy's TLS (negative control).
    from .acme import TestCA

    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        leaf.verify_directly_issued_by(TestCA().cert)
    key = serialization.load_pem_private_key(base64.b64decode(secret["data"]["tls.key"]), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # privateKey.algorithm: ECDSA
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()  # type: ignore[union-attr]
    status = issued["obj"]["status"]
    assert status["notAfter"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_dns01_wrote_and_removed_only_its_txt_records(stack: Stack, issued: dict[str, Any]) -> None:
    """TXT created then deleted at _acme-challenge, in the zone, with the sealed token."""
    changes = list(stack.cf.changes)
    assert changes, "no record changes reached the emulator"
    assert {c.name for c in changes} == {ACME_NAME}
    assert {c.type for c in changes} == {"TXT"}
    assert {c.token for c in changes} == {TOKEN}
    creates = [c.content for c in changes if c.op == "create"]
    deletes = [c.content for c in changes if c.op == "delete"]
    assert len(creates) == 2  # one per identifier: the apex and the wildcard
    assert sorted(creates) == sorted(deletes)
    for value in creates:
        ops = [c.op for c in changes if c.content == value]
        assert ops == ["create", "delete"], ops
    assert not [c for c in changes if c.op == "update"]
    # Nothing left behind; the DDNS-owned A record is exactly as it was.
    assert stack.cf.snapshot() == issued["before"]
    assert (DDNS_RECORD[0], "A", DDNS_RECORD[2], DDNS_RECORD[3]) in stack.cf.snapshot()
    # Every API call went through the proxy to the one host; nothing else was dialled.
    assert stack.proxy.tunnels > 0
    assert stack.proxy.refused == []
    zone_paths = {c.path for c in stack.cf.calls if "/dns_records" in c.path}
    assert all(f"/zones/{stack.cf.zone_id}/" in p for p in zone_paths)


def test_status_reads_the_issued_certificate(stack: Stack, issued: dict[str, Any]) -> None:
    """`homeport status` shows Ready, notAfter and renewalTime as cert-manager wrote them."""
    code, doc = _status_json(stack)
    check = _cert_check(doc, "traefik/wildcard")
    status = issued["obj"]["status"]
    assert check["level"] == "ok", check
    assert check["data"]["ready"] is True
    assert check["data"]["notAfter"] == status["notAfter"]
    assert check["data"]["renewalTime"] == status["renewalTime"]
    not_after = dt.datetime.fromisoformat(status["notAfter"].replace("Z", "+00:00"))
    renewal = dt.datetime.fromisoformat(status["renewalTime"].replace("Z", "+00:00"))
    # renewBefore (720h) as rendered: cert-manager renews 30 days before expiry.
    assert not_after - renewal == dt.timedelta(hours=720)
    assert f"renews {renewal:%Y-%m-%d}" in check["detail"]
    assert code == 0, doc
    # The same real object, read at a later clock: past renewalTime means renewal is failing.
    late = collect(stack.kube, now=renewal + dt.timedelta(days=2)).checks
    (c,) = [c for c in late if c.name == "traefik/wildcard"]
    assert c.level == "warning" and "renewal overdue since" in c.detail, c
    early = collect(stack.kube, now=renewal - dt.timedelta(minutes=1)).checks
    (c,) = [c for c in early if c.name == "traefik/wildcard"]
    assert c.level == "ok", c  # negative control


FAULTS = {
    # name: (how to break it, text the Challenge must show)
    "revoked-token": ("revoked", "9109: Invalid access token"),
    "rate-limited": ("429", "971: Please wait and consider throttling your request speed"),
    "zone-not-visible": ("other-zone", "Found no Zones for domain"),
}


@pytest.fixture
def fault_cert(stack: Stack, issued: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A copy of the rendered Certificate for one subdomain; removed with its ACME objects."""
    made: list[dict[str, Any]] = []
    issuers: list[str] = []
    yield {"made": made, "issuers": issuers}
    kube = stack.kube
    for name in issuers:
        _delete(kube, "cert-manager.io/v1", "ClusterIssuer", name, None)
    for cert in made:
        ns, name = cert["metadata"]["namespace"], cert["metadata"]["name"]
        _delete(kube, "cert-manager.io/v1", "Certificate", name, ns)
        for api, kind in (
            ("cert-manager.io/v1", "CertificateRequest"),
            ("acme.cert-manager.io/v1", "Order"),
            ("acme.cert-manager.io/v1", "Challenge"),
        ):
            for o in kube.list_objects(api, kind, ns):
                if o["metadata"]["name"].startswith(name + "-"):
                    _delete(kube, api, kind, o["metadata"]["name"], ns)
    stack.cf.tokens[TOKEN] = "edit"
    stack.cf.sw.rate_limit_next = 0


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_cloudflare_faults_end_in_a_clear_challenge_reason(
    stack: Stack, issued: dict[str, Any], fault_cert: dict[str, Any], fault: str
) -> None:
    """A revoked token (403), rate limiting (429 + Retry-After), a zone the token cannot see.

    Each leaves the Challenge with the API's error as its reason, the Certificate not Ready
    (and `homeport status` saying why), and no record written.
    """
    how, expected = FAULTS[fault]
    before = stack.cf.snapshot()
    stack.cf.changes.clear()
    if how == "429":
        stack.cf.sw.rate_limit_next = 1_000_000
        stack.cf.sw.retry_after = 30
    else:
        stack.cf.tokens[TOKEN] = how
    cert = json.loads(json.dumps(stack.certificate))
    name = f"fault-{fault}"
    cert["metadata"]["name"] = name
    cert["spec"]["secretName"] = f"{name}-tls"
    host = f"{fault}.{DOMAIN}"
    cert["spec"]["commonName"] = host
    cert["spec"]["dnsNames"] = [host]
    ns = cert["metadata"]["namespace"]
    fault_cert["made"].append(cert)
    stack.kube.apply(cert)

    def failing() -> dict[str, Any] | None:
        for ch in stack.kube.list_objects("acme.cert-manager.io/v1", "Challenge", ns):
            if ch["metadata"]["name"].startswith(name + "-"):
                reason = str((ch.get("status") or {}).get("reason") or "")
                if expected in reason:
                    return ch
        return None

    ch = stack.wait(f"{fault}: Challenge reason", failing, 90)
    assert ch["spec"]["dnsName"] == host
    assert not ch["status"].get("presented")
    got = _get(stack.kube, "Certificate", name, ns)
    c = condition(got)
    assert c and c["status"] == "False"
    assert _get(stack.kube, "Secret", f"{name}-tls", ns) is None
    # No record written or removed; the DDNS record untouched.
    assert stack.cf.changes == []
    assert stack.cf.snapshot() == before
    if how == "429":
        assert any(call.status == 429 for call in stack.cf.calls)
    # `homeport status` names the broken certificate and the API's reason; exit code 1.
    code, doc = _status_json(stack)
    check = _cert_check(doc, f"{ns}/{name}")
    assert check["level"] == "error"
    assert expected in check["detail"], check
    print(f"\n{fault}: homeport status: {check['detail']}")
    assert code == 1
    # The issued certificate is still fine next to it.
    assert _cert_check(doc, "traefik/wildcard")["level"] == "ok"


def test_unreachable_acme_server_shows_as_the_issuer_problem(
    stack: Stack, issued: dict[str, Any], fault_cert: dict[str, Any]
) -> None:
    """An issuer that cannot register its account: the Certificate's status says so."""
    from cluster.apiserver import free_port

    issuer = json.loads(json.dumps(stack.issuers[0]))
    issuer["metadata"]["name"] = "fault-unreachable"
    issuer["spec"]["acme"]["server"] = f"https://127.0.0.1:{free_port()}/dir"  # nobody listens
    issuer["spec"]["acme"]["privateKeySecretRef"]["name"] = "fault-unreachable-account-key"
    fault_cert["issuers"].append("fault-unreachable")
    stack.kube.apply(issuer)
    cert = json.loads(json.dumps(stack.certificate))
    cert["metadata"]["name"] = "fault-issuer"
    cert["spec"]["secretName"] = "fault-issuer-tls"
    cert["spec"]["issuerRef"]["name"] = "fault-unreachable"
    fault_cert["made"].append(cert)
    stack.kube.apply(cert)

    def failed() -> dict[str, Any] | None:
        c = condition(_get(stack.kube, "ClusterIssuer", "fault-unreachable"))
        return c if c and c["status"] == "False" else None

    c = stack.wait("fault-unreachable issuer not Ready", failed, 60)
    assert c["reason"] == "ErrRegisterACMEAccount", c
    code, doc = _status_json(stack)
    check = _cert_check(doc, f"{cert['metadata']['namespace']}/fault-issuer")
    assert check["level"] == "error"
    assert (
        "ClusterIssuer fault-unreachable not ready: Failed to register ACME account"
        in (check["detail"])
    ), check
    print(f"\nunreachable ACME server: homeport status: {check['detail']}")
    assert code == 1
    # A user who may read Certificates only still gets the verdict, without the reasons.
    role = {"apiGroups": ["cert-manager.io"], "resources": ["certificates"]}
    stack.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "certificates-reader"},
            "rules": [{**role, "verbs": ["get", "list"]}],
        }
    )
    stack.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "certificates-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "certificates-reader",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reader"}
            ],
        }
    )
    with connect(stack.api.write_user_kubeconfig("reader")) as reader:
        (c,) = [c for c in certificate_checks(reader) if c.name.endswith("/fault-issuer")]
    assert c.level == "error" and "not ready" in c.detail
    assert "fault-unreachable" not in c.detail
    # The rendered issuers are unaffected: the issued certificate stays ok.
    assert _cert_check(doc, "traefik/wildcard")["level"] == "ok"
