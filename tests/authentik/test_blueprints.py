"""The blueprints speak Authentik's own API: every attribute they set exists, with a
value of the right type, in the pinned ``authentik-client`` models, so a field renamed
or retyped upstream fails here before a cluster ever applies the blueprint."""

from __future__ import annotations

import typing
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from homeport import yamlio
from homeport.platform import authentik

from .helpers import NO_SSO, Tag, authentik_models, config, load_blueprint, objects, render

ak = authentik_models()

# Blueprint model (Django app_label.model) -> the API request model with the same fields.
VALIDATE_STAGE = "authentik_stages_authenticator_validate.authenticatorvalidatestage"
API_MODELS: dict[str, type[BaseModel]] = {
    "authentik_providers_proxy.proxyprovider": ak.ProxyProviderRequest,
    "authentik_core.application": ak.ApplicationRequest,
    "authentik_outposts.outpost": ak.OutpostRequest,
    "authentik_providers_oauth2.oauth2provider": ak.OAuth2ProviderRequest,
    VALIDATE_STAGE: ak.AuthenticatorValidateStageRequest,
}
# Blueprint bookkeeping entries, not API objects.
META_MODELS = {"authentik_blueprints.metaapplyblueprint"}
# Tags that resolve to the primary key of another object.
REFERENCE_TAGS = {"!Find", "!KeyOf"}

ALL_OPTIONS = [
    "",
    "components:\n  authentik:\n    mfa: required\n",
    "components:\n  authentik:\n    argocd_oidc: false\n",
    "ha: true\ncomponents:\n  authentik:\n    mfa: required\n",
]


def _is_reference_type(annotation: Any) -> bool:
    """Whether a field holds a primary key (UUID or int), or a list of them."""
    args = typing.get_args(annotation)
    if annotation in (uuid.UUID, int):
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_reference_type(args[0])
    return bool(args) and all(_is_reference_type(a) or a is type(None) for a in args)


def _check_value(model: type[BaseModel], field: str, value: Any, where: str) -> None:
    annotation = model.model_fields[field].annotation
    assert annotation is not None, f"{where}: {field} has no type"
    if isinstance(value, Tag):
        assert value.tag in REFERENCE_TAGS, f"{where}: unexpected tag {value.tag}"
        assert _is_reference_type(annotation), f"{where}: {field} is {annotation}, not a reference"
        return
    if isinstance(value, list) and any(isinstance(v, Tag) for v in value):
        assert all(isinstance(v, Tag) and v.tag in REFERENCE_TAGS for v in value), where
        assert _is_reference_type(annotation), (
            f"{where}: {field} is {annotation}, not a list of references"
        )
        return
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        raise AssertionError(
            f"{where}: {field}={value!r} does not fit {annotation}: {exc}"
        ) from None


def _blueprints(extra: str) -> dict[str, dict[str, Any]]:
    return {
        name: load_blueprint(text) for name, text in authentik.blueprints(config(extra)).items()
    }


@pytest.mark.parametrize("extra", ALL_OPTIONS, ids=["default", "mfa", "no-oidc", "ha-mfa"])
def test_every_attribute_exists_with_the_right_type(extra: str) -> None:
    for name, doc in _blueprints(extra).items():
        assert doc["version"] == 1, name
        for i, entry in enumerate(doc["entries"]):
            where = f"{name} entries[{i}] {entry['model']}"
            if entry["model"] in META_MODELS:
                assert isinstance(entry["attrs"]["identifiers"]["name"], str), where
                continue
            model = API_MODELS.get(entry["model"])
            assert model is not None, f"{where}: no API model mapped for this blueprint model"
            fields = {**entry.get("identifiers", {}), **entry.get("attrs", {})}
            for field, value in fields.items():
                assert field in model.model_fields, (
                    f"{where}: {field} is not a field of {model.__name__}"
                )
                _check_value(model, field, value, where)
            missing = [
                f
                for f, info in model.model_fields.items()
                if info.is_required() and f not in fields
            ]
            assert not missing, f"{where}: required by {model.__name__} but not set: {missing}"


def _entry(doc: dict[str, Any], model: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for e in doc["entries"] if e["model"] == model]
    assert len(found) == 1, model
    return found[0]


def test_forward_auth_provider_application_and_embedded_outpost() -> None:
    doc = _blueprints("")["homeport-forward-auth.yaml"]
    provider = _entry(doc, "authentik_providers_proxy.proxyprovider")
    assert provider["attrs"]["mode"] == ak.ProxyMode.FORWARD_DOMAIN.value
    # The public URL, and the parent domain as cookie domain (authentik #5922, #14805).
    assert provider["attrs"]["external_host"] == "https://auth.example.com"
    assert provider["attrs"]["cookie_domain"] == "example.com"
    app = _entry(doc, "authentik_core.application")
    assert app["attrs"]["provider"] == Tag("!KeyOf", provider["id"])
    outpost = _entry(doc, "authentik_outposts.outpost")
    assert outpost["identifiers"] == {"managed": "goauthentik.io/outposts/embedded"}
    assert outpost["attrs"]["type"] == ak.OutpostTypeEnum.PROXY.value
    assert outpost["attrs"]["providers"] == [Tag("!KeyOf", provider["id"])]
    assert outpost["attrs"]["config"]["authentik_host"] == "https://auth.example.com"


def test_blueprints_follow_the_domain() -> None:
    doc = load_blueprint(
        authentik.blueprints(config().model_copy(update={"domain": "home.example.org"}))[
            "homeport-forward-auth.yaml"
        ]
    )
    provider = _entry(doc, "authentik_providers_proxy.proxyprovider")
    assert provider["attrs"]["cookie_domain"] == "home.example.org"
    assert provider["attrs"]["external_host"] == "https://auth.home.example.org"


@pytest.mark.parametrize(
    ("mfa", "action", "classes"),
    [
        ("required", "configure", ["totp", "webauthn"]),
        ("optional", "skip", ["static", "totp", "webauthn"]),
    ],
)
def test_mfa_setting_drives_the_default_flow_validation_stage(
    mfa: str, action: str, classes: list[str]
) -> None:
    doc = _blueprints(f"components:\n  authentik:\n    mfa: {mfa}\n")["homeport-mfa.yaml"]
    stage = _entry(doc, "authentik_stages_authenticator_validate.authenticatorvalidatestage")
    # The stage the default authentication flow binds at order 30.
    assert stage["identifiers"] == {"name": "default-authentication-mfa-validation"}
    assert stage["attrs"]["not_configured_action"] == action
    assert action in {e.value for e in ak.NotConfiguredActionEnum}
    assert stage["attrs"]["device_classes"] == classes
    enrol = [t.value[0] for t in stage["attrs"]["configuration_stages"]]
    assert enrol == [
        "authentik_stages_authenticator_totp.authenticatortotpstage",
        "authentik_stages_authenticator_webauthn.authenticatewebauthnstage",
    ]
    applied = {
        e["attrs"]["identifiers"]["name"] for e in doc["entries"] if e["model"] in META_MODELS
    }
    assert "Default - Authentication flow" in applied


def test_argocd_oidc_is_a_public_pkce_client_with_no_secret() -> None:
    docs = _blueprints("")
    provider = _entry(docs["homeport-argocd.yaml"], "authentik_providers_oauth2.oauth2provider")
    attrs = provider["attrs"]
    assert attrs["client_type"] == ak.ClientTypeEnum.PUBLIC.value
    assert "client_secret" not in attrs
    urls = {u["url"] for u in attrs["redirect_uris"]}
    assert "https://argocd.example.com/pkce/verify" in urls
    assert attrs["signing_key"].tag == "!Find"
    assert attrs["issuer_mode"] == "per_provider"
    app = _entry(docs["homeport-argocd.yaml"], "authentik_core.application")
    oidc = authentik.argocd_oidc_config(config())
    assert oidc is not None
    parsed = yamlio.load(oidc)
    assert parsed["clientID"] == attrs["client_id"]
    assert parsed["enablePKCEAuthentication"] is True
    assert "clientSecret" not in parsed
    # Per-provider issuer: /application/o/<application slug>/.
    assert (
        parsed["issuer"] == f"https://auth.example.com/application/o/{app['identifiers']['slug']}/"
    )


def test_argocd_oidc_absent_when_disabled() -> None:
    assert "homeport-argocd.yaml" not in _blueprints(
        "components:\n  authentik:\n    argocd_oidc: false\n"
    )
    assert (
        authentik.argocd_oidc_config(config("components:\n  authentik:\n    argocd_oidc: false\n"))
        is None
    )
    assert authentik.argocd_oidc_config(config(NO_SSO)) is None


def test_argocd_cm_carries_the_oidc_config() -> None:
    cms = [
        o
        for _, o in objects(render())
        if o.get("kind") == "Application" and o["metadata"]["name"] == "argocd"
    ]
    patches = cms[0]["spec"]["source"]["kustomize"]["patches"]
    cm = next(yamlio.load(p["patch"]) for p in patches if p["target"]["name"] == "argocd-cm")
    assert (
        yamlio.load(cm["data"]["oidc.config"])["issuer"]
        == "https://auth.example.com/application/o/argocd/"
    )


def test_blueprint_configmap_is_mounted_by_the_chart() -> None:
    tree = render()
    cms = [
        o
        for _, o in objects(tree)
        if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == authentik.BLUEPRINTS_CONFIGMAP
    ]
    assert len(cms) == 1
    assert cms[0]["metadata"]["namespace"] == authentik.NAMESPACE
    # The chart discovers only keys ending in .yaml.
    assert cms[0]["data"] and all(k.endswith(".yaml") for k in cms[0]["data"])
    app = next(
        o
        for _, o in objects(tree)
        if o.get("kind") == "Application" and o["metadata"]["name"] == "authentik"
    )
    values = app["spec"]["source"]["helm"]["valuesObject"]
    assert values["blueprints"]["configMaps"] == [authentik.BLUEPRINTS_CONFIGMAP]
