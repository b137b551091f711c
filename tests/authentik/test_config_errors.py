"""Bad input around SSO is refused with one clear line naming the field."""

from __future__ import annotations

import pytest

from homeport.errors import ConfigError

from .helpers import NO_SSO, config


def _problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(extra)
    return [str(p) for p in info.value.problems]


def test_sso_app_with_authentik_disabled_names_the_app() -> None:
    extra = (
        NO_SSO
        + "apps:\n  - name: wiki\n    image: ghcr.io/example/wiki:1.0.0\n"
        + "    port: 80\n    auth: sso\n"
    )
    probs = _problems(extra)
    assert len(probs) == 1
    assert "apps[0].auth" in probs[0] and '"wiki"' in probs[0] and "authentik" in probs[0]


def test_app_on_the_login_host_is_refused() -> None:
    extra = (
        "apps:\n  - name: sneaky\n    image: ghcr.io/example/x:1.0.0\n    port: 80\n"
        "    host: auth.example.com\n"
    )
    probs = _problems(extra)
    assert len(probs) == 1
    assert "apps[0].host" in probs[0] and "auth.example.com" in probs[0]


def test_app_named_auth_is_refused_too() -> None:
    probs = _problems("apps:\n  - name: auth\n    image: ghcr.io/example/x:1.0.0\n    port: 80\n")
    assert any("auth.example.com" in p for p in probs)


def test_platform_sso_with_authentik_disabled() -> None:
    probs = _problems(
        "components:\n  authentik:\n    enabled: false\n  monitoring:\n    auth: public\n"
    )
    assert any("components.argocd.auth" in p for p in probs)


def test_authentik_without_cloudnative_pg() -> None:
    probs = _problems("components:\n  cloudnative_pg:\n    enabled: false\n")
    assert any("components.cloudnative_pg.enabled" in p for p in probs)


def test_bad_mfa_value() -> None:
    probs = _problems("components:\n  authentik:\n    mfa: sometimes\n")
    assert any("components.authentik.mfa" in p for p in probs)
