"""``acme.server``: a private ACME server (step-ca, pebble) instead of Let's Encrypt."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from certs.acme import TestCA
from configs import base_yaml, config
from homeport import yamlio
from homeport.config import parse_config
from homeport.errors import ConfigError
from homeport.gitops import render_tree

SERVER = "https://ca.lan.example:9000/acme/acme/directory"


def _indent(text: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def _objects(cfg_text: str) -> list[dict[str, Any]]:
    tree = render_tree(parse_config(cfg_text, "homeport.yaml"))
    return [
        o
        for path, text in tree.files.items()
        if path.endswith(".yaml")
        for o in yamlio.load_all(text)
        if isinstance(o, dict)
    ]


def test_private_server_replaces_lets_encrypt() -> None:
    pem = TestCA().pem.decode()
    text = base_yaml() + f"acme:\n  server: {SERVER}\n  ca_bundle: |\n{_indent(pem, 4)}"
    objs = _objects(text)
    issuers = [o for o in objs if o.get("kind") == "ClusterIssuer"]
    assert [i["metadata"]["name"] for i in issuers] == ["acme-private"]
    acme = issuers[0]["spec"]["acme"]
    assert acme["server"] == SERVER
    assert base64.b64decode(acme["caBundle"]).decode().strip() == pem.strip()
    (cert,) = [o for o in objs if o.get("kind") == "Certificate"]
    assert cert["spec"]["issuerRef"]["name"] == "acme-private"
    # The server is on a LAN address range only when it resolves there; the policy names it.
    pols = [o for o in objs if o.get("kind") == "NetworkPolicy"]
    assert any(p["metadata"]["name"] == "allow-internet" for p in pols)


def test_default_is_both_lets_encrypt_issuers() -> None:
    objs = _objects(base_yaml())
    names = sorted(o["metadata"]["name"] for o in objs if o.get("kind") == "ClusterIssuer")
    assert names == ["letsencrypt-production", "letsencrypt-staging"]
    (cert,) = [o for o in objs if o.get("kind") == "Certificate"]
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt-staging"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("acme:\n  server: http://ca.lan:9000/dir\n", "acme.server"),
        ("acme:\n  server: ftp://x\n", "not an ACME directory URL"),
        ("acme:\n  ca_bundle: 'not a pem'\n  server: https://ca/dir\n", "acme.ca_bundle"),
        (
            "acme:\n  ca_bundle: |\n    -----BEGIN CERTIFICATE-----\n    AAAA\n"
            "    -----END CERTIFICATE-----\n",
            "only used with server",
        ),
    ],
)
def test_bad_acme_settings(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config(extra)
    assert message in str(exc.value)
