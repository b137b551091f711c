"""The logins of the mirrors (``mirror.credentials``): sealed Argo CD repository Secrets.

Each login is a SealedSecret ``<tree>/secrets/argocd/mirror-<charts|argocd>.yaml``
written by ``homeport secret set``. Only the login is sealed (``username``/``password``,
or ``sshPrivateKey``); the keys Argo CD needs besides it (``url``, ``type``,
``enableOCI``) and its ``argocd.argoproj.io/secret-type: repository`` label are plain in
the SealedSecret's template, taken from homeport.yaml, so render can tell a login sealed
for another URL without the private key.

The ``secrets`` Application syncs them only in wave -7, after Argo CD (-9) and the Sealed
Secrets controller (-8) came from the mirrors, so ``homeport bootstrap`` also opens them
with the sealing key and applies the Secrets itself, marked for the controller to adopt.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeport import yamlio
from homeport.config import HomeportConfig
from homeport.errors import SealError, UsageError
from homeport.platform.mirror import REPO_SECRET_TYPE_LABEL, MirrorLogin, logins
from homeport.platform.secrets import SECRETS_DIR

if TYPE_CHECKING:
    # Render checks the logins on every run; it does not load the crypto stack for that.
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    from homeport.sealing import Scope

# Lets the Sealed Secrets controller adopt a Secret bootstrap created before it ran.
MANAGED_ANNOTATION = "sealedsecrets.bitnami.com/managed"


def login_for(cfg: HomeportConfig, namespace: str, name: str) -> MirrorLogin | None:
    """The mirror login a Secret ``namespace/name`` holds for this config, if any."""
    return next((m for m in logins(cfg) if (m.namespace, m.name) == (namespace, name)), None)


def check_keys(login: MirrorLogin, keys: set[str]) -> None:
    """Refuse a login without exactly the keys Argo CD reads for it.

    Raises:
        UsageError: Keys are missing or extra (names only, never values).
    """
    if keys != set(login.keys):
        want = " and ".join(login.keys)
        have = ", ".join(sorted(keys)) or "none"
        raise UsageError(
            f"{login.namespace}/{login.name}: the login of {login.field} needs keys {want} "
            f"(given: {have}); {login.set_command()}"
        )


def seal_login(
    cert: x509.Certificate,
    login: MirrorLogin,
    data: dict[str, bytes],
    *,
    scope: Scope = "strict",
) -> dict[str, Any]:
    """Seal a mirror login as the Argo CD repository Secret of its mirror.

    Args:
        cert: The controller's certificate.
        login: Which mirror.
        data: The login (``username``/``password`` or ``sshPrivateKey``).
        scope: Sealing scope.

    Returns:
        The SealedSecret: the login encrypted, url/type/enableOCI and labels plain.

    Raises:
        UsageError: The keys are not the ones the mirror needs.
    """
    from homeport import sealing

    check_keys(login, set(data))
    return sealing.seal_secret(
        cert,
        login.name,
        login.namespace,
        data,
        scope=scope,
        labels=login.labels(),
        template_data=login.template_data(),
    )


def _problem(login: MirrorLogin, sealed: dict[str, Any], rel: str) -> str | None:
    spec = sealed.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    again = f"seal it again: {login.set_command()}"
    if labels.get(REPO_SECRET_TYPE_LABEL) != "repository":
        return f"{rel} has no label {REPO_SECRET_TYPE_LABEL}: repository; {again}"
    data = template.get("data") or {}
    for key, want in login.template_data().items():
        if data.get(key) != want:
            have = data.get(key, "")
            return f'{rel} has {key} "{have}" but {login.field} needs "{want}"; {again}'
    extra = sorted(set(data) - set(login.template_data()))
    if extra:
        return f"{rel} carries unexpected plain keys ({', '.join(extra)}); {again}"
    keys = set((spec.get("encryptedData") or {}).keys())
    if keys != set(login.keys):
        have = ", ".join(sorted(keys))
        return f"{rel} seals {have}; {login.field} needs {' and '.join(login.keys)}; {again}"
    return None


def problems(tree: Path, cfg: HomeportConfig) -> list[str]:
    """What is wrong with the sealed mirror logins the config asks for (empty: nothing).

    A missing file, a SealedSecret sealed for another URL, type or OCI setting (the
    mirror changed since), or without the repository label: each names the field, the
    Secret and the command that seals it.

    Args:
        tree: The GitOps tree (``git.path``).
        cfg: The config.

    Returns:
        One line per problem.
    """
    out = []
    for login in logins(cfg):
        path = login_path(tree, login)
        rel = f"{tree.name}/{path.relative_to(tree)}"
        if not path.is_file():
            out.append(
                f"mirror.credentials: the login of {login.field} is not sealed "
                f"({rel} is missing); run: {login.set_command()}"
            )
            continue
        problem = _problem(login, _read(path, rel), rel)
        if problem:
            out.append(f"mirror.credentials: {problem}")
    return out


def login_path(tree: Path, login: MirrorLogin) -> Path:
    """Where a mirror login's SealedSecret lives in the tree."""
    return Path(tree) / SECRETS_DIR / login.namespace / f"{login.name}.yaml"


def _read(path: Path, rel: str) -> dict[str, Any]:
    try:
        obj = yamlio.load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{rel}: cannot read: {exc}") from None
    except Exception:  # PyYAML raises many types; the message must stay one line
        raise UsageError(f"{rel}: not valid YAML") from None
    if not isinstance(obj, dict) or obj.get("kind") != "SealedSecret":
        raise UsageError(f"{rel}: not a SealedSecret")
    return obj


def require_sealed(tree: Path, cfg: HomeportConfig) -> None:
    """Raise the first of :func:`problems`.

    Raises:
        UsageError: A mirror login is missing or stale.
    """
    found = problems(tree, cfg)
    if found:
        raise UsageError(found[0])


def open_logins(
    tree: Path, cfg: HomeportConfig, keys: list[rsa.RSAPrivateKey]
) -> list[tuple[MirrorLogin, dict[str, bytes]]]:
    """Open every mirror login the config asks for (bootstrap, ``charts pull``).

    Args:
        tree: The GitOps tree.
        cfg: The config.
        keys: The sealing key(s) (``$HOMEPORT_HOME``).

    Returns:
        Each login with its opened values.

    Raises:
        UsageError: A login is missing or stale (see :func:`problems`).
        SealError: The key does not open it.
    """
    from homeport import sealing

    require_sealed(tree, cfg)
    out = []
    for login in logins(cfg):
        path = login_path(tree, login)
        try:
            out.append((login, sealing.unseal(_read(path, str(path)), keys)))
        except SealError as exc:
            raise SealError(f"{path}: {exc}") from None
    return out


def repository_secret(login: MirrorLogin, values: dict[str, bytes]) -> dict[str, Any]:
    """The Secret the controller will make of a login, for bootstrap to apply first.

    Never written to a file: it carries the login in plain base64. The annotation lets
    the controller adopt it once the ``secrets`` Application syncs the SealedSecret.
    """
    data = {k: v.encode() for k, v in login.template_data().items()}
    data.update(values)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": login.name,
            "namespace": login.namespace,
            "labels": dict(sorted(login.labels().items())),
            "annotations": {MANAGED_ANNOTATION: "true"},
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(data.items())},
    }


__all__ = [
    "MANAGED_ANNOTATION",
    "check_keys",
    "login_for",
    "login_path",
    "open_logins",
    "problems",
    "repository_secret",
    "require_sealed",
    "seal_login",
]
