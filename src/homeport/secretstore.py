"""The sealed half of the GitOps tree: ``<tree>/secrets/<namespace>/<name>.yaml``.

Only SealedSecrets live there (written by ``homeport init`` and ``homeport secret set``);
``homeport render`` never writes into that folder. This module also holds the guard every
writer of the tree calls, so a plain ``v1`` Secret with values can never reach Git, and a
scanner tests use to prove no known secret value was written anywhere in plaintext.
"""

from __future__ import annotations

import base64
import re
import secrets as pysecrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport import yamlio
from homeport.config import HomeportConfig
from homeport.errors import SealError, UsageError
from homeport.fsutil import atomic_write, tree_lock
from homeport.plaintext import guard_no_plaintext
from homeport.platform import secrets as psec
from homeport.platform.secrets import SECRETS_DIR, PlatformSecret
from homeport.sealing import (
    CERT_FILE,
    Scope,
    home_dir,
    load_cert,
    seal_secret,
    sealed_scope,
    unseal,
)

# A Secret's name is a DNS-1123 subdomain, its namespace a DNS-1123 label; both also keep
# the file path inside the tree (no "/", no "..").
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


class SecretExistsError(UsageError):
    """A different sealed secret already exists where one was about to be written."""


@dataclass(frozen=True)
class StoredSecret:
    """One SealedSecret found in the tree (never its values).

    Attributes:
        namespace: Namespace of the Secret the controller creates.
        name: Its name.
        keys: Its data keys, sorted.
        scope: Where the sealed values may be opened.
        type: The Secret type.
        path: The file holding it.
    """

    namespace: str
    name: str
    keys: tuple[str, ...]
    scope: Scope
    type: str
    path: Path

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly view (for ``--output json``)."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "keys": list(self.keys),
            "scope": self.scope,
            "type": self.type,
            "path": str(self.path),
        }


def check_name(name: str, what: str = "name") -> str:
    """Validate a Secret name (DNS-1123 subdomain).

    Args:
        name: The name.
        what: How the caller calls it in messages (e.g. ``--name``).

    Returns:
        The name, unchanged.

    Raises:
        UsageError: The name is not valid.
    """
    if not _NAME.match(name) or ".." in name:
        raise _invalid(what, name, 'Secret name: lower-case letters, digits, "-" and "."')
    return name


def check_namespace(namespace: str, what: str = "namespace") -> str:
    """Validate a namespace (DNS-1123 label).

    Args:
        namespace: The namespace.
        what: How the caller calls it in messages (e.g. ``--namespace``).

    Returns:
        The namespace, unchanged.

    Raises:
        UsageError: The namespace is not valid.
    """
    if not _NAMESPACE.match(namespace):
        raise _invalid(
            what, namespace, 'namespace: lower-case letters, digits and "-", at most 63 characters'
        )
    return namespace


def _invalid(what: str, value: str, rule: str) -> UsageError:
    return UsageError(f'{what}: "{value}" is not a valid {rule}')


def check_data_key(key: str) -> str:
    """Validate a Secret data key (letters, digits, ``-``, ``_`` and ``.``).

    Args:
        key: The key.

    Returns:
        The key, unchanged.

    Raises:
        UsageError: The key is not valid.
    """
    if not _DATA_KEY.match(key) or key in (".", ".."):
        raise UsageError(
            f'"{key}" is not a valid secret key: use letters, digits, "-", "_" and "."'
        )
    return key


def secrets_root(tree: Path) -> Path:
    """Return the folder of the sealed secrets inside a GitOps tree."""
    return Path(tree) / SECRETS_DIR


def secret_path(tree: Path, namespace: str, name: str) -> Path:
    """Return where the SealedSecret ``namespace/name`` lives in a tree.

    Args:
        tree: The GitOps tree (the directory ``git.path`` names).
        namespace: The Secret's namespace.
        name: The Secret's name.

    Returns:
        ``<tree>/secrets/<namespace>/<name>.yaml``.

    Raises:
        UsageError: The name or namespace is not valid.
    """
    return secrets_root(tree) / check_namespace(namespace) / f"{check_name(name)}.yaml"


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file so readers see the old or the new content, never half of it.

    Args:
        path: Destination.
        text: Content (UTF-8).
        mode: File mode of the new file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=mode)


def _check_sealed(obj: dict[str, Any]) -> tuple[str, str]:
    if obj.get("apiVersion") != "bitnami.com/v1alpha1" or obj.get("kind") != "SealedSecret":
        guard_no_plaintext(obj)
        raise UsageError("only bitnami.com/v1alpha1 SealedSecrets go into the secrets folder")
    md = obj.get("metadata") or {}
    enc = (obj.get("spec") or {}).get("encryptedData")
    if not isinstance(enc, dict) or not enc:
        raise UsageError("a SealedSecret needs spec.encryptedData")
    return str(md.get("namespace", "")), str(md.get("name", ""))


def write_sealed(tree: Path, sealed: dict[str, Any], *, replace: bool = False) -> tuple[Path, str]:
    """Write a SealedSecret into the tree, atomically, under the tree lock.

    Args:
        tree: The GitOps tree.
        sealed: The SealedSecret object (as :func:`homeport.sealing.seal_secret` returns it).
        replace: Replace an existing, different secret of the same name.

    Returns:
        The file path and what happened: ``"created"``, ``"replaced"`` or ``"unchanged"``.

    Raises:
        SecretExistsError: The secret exists with other content and ``replace`` is false.
        PlaintextSecretError: The object is a plain Secret with values.
        UsageError: The object is not a valid SealedSecret.
    """
    namespace, name = _check_sealed(sealed)
    path = secret_path(tree, namespace, name)
    text = yamlio.dump(sealed)
    # Under the tree lock: a render swapping the tree meanwhile would drop this file.
    with tree_lock(tree):
        status = "created"
        if path.exists():
            if path.read_text(encoding="utf-8") == text:
                return path, "unchanged"
            if not replace:
                raise SecretExistsError(
                    f"{path}: a sealed secret {namespace}/{name} already exists; not overwriting it"
                )
            status = "replaced"
        atomic_write_text(path, text)
    return path, status


def read_sealed(path: Path) -> dict[str, Any]:
    """Read one SealedSecret file.

    Args:
        path: The file.

    Returns:
        The SealedSecret object.

    Raises:
        UsageError: The file cannot be read or holds no SealedSecret.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        obj = yamlio.load(text)
    except Exception:  # PyYAML raises many types; the message must stay one line
        raise UsageError(f"{path}: not valid YAML") from None
    if not isinstance(obj, dict) or obj.get("kind") != "SealedSecret":
        raise UsageError(f"{path}: not a SealedSecret")
    return obj


def list_secrets(tree: Path) -> list[StoredSecret]:
    """List the SealedSecrets in a tree, sorted by namespace and name.

    Args:
        tree: The GitOps tree.

    Returns:
        One entry per file; values are never read or returned.

    Raises:
        UsageError: A file under ``secrets/`` is not a SealedSecret.
    """
    root = secrets_root(tree)
    if not root.is_dir():
        return []
    out: list[StoredSecret] = []
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("."):
            continue
        obj = read_sealed(path)
        md = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        template = spec.get("template") or {}
        out.append(
            StoredSecret(
                namespace=str(md.get("namespace", "")),
                name=str(md.get("name", "")),
                keys=tuple(sorted((spec.get("encryptedData") or {}).keys())),
                scope=sealed_scope(obj),
                type=str(template.get("type", "Opaque")),
                path=path,
            )
        )
    out.sort(key=lambda s: (s.namespace, s.name))
    return out


def encodings(value: bytes) -> list[bytes]:
    """Return the forms a secret value could take in a text file.

    The raw value, and its base64 encoding at each of the three byte alignments (so the
    value is found even inside a longer base64 string), in standard and URL-safe alphabets.

    Args:
        value: The secret value.

    Returns:
        Byte strings to search for; forms shorter than 4 bytes are left out.
    """
    forms = {value}
    for offset in range(3):
        enc = base64.b64encode(b"\0" * offset + value)
        # Keep only the characters that depend on the value alone.
        start = (0, 2, 3)[offset]
        end = ((offset + len(value)) // 3) * 4
        core = enc[start:end]
        forms.add(core)
        forms.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return sorted(f for f in forms if len(f) >= 4)


@dataclass(frozen=True)
class PlaintextHit:
    """A known secret value found in a file.

    Attributes:
        path: The file.
        label: The caller's name for the value (never the value itself).
        form: ``"raw"`` or ``"base64"``.
    """

    path: Path
    label: str
    form: str


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            yield p


def find_plaintext(paths: Iterable[Path], secrets: dict[str, bytes | str]) -> list[PlaintextHit]:
    """Search files for known secret values, raw or base64-encoded.

    Args:
        paths: Files or directories (searched recursively, every file, binary too).
        secrets: Label -> secret value. Labels appear in the result, values never do.

    Returns:
        Every (file, value) pair where the value was found, in path order.
    """
    needles: list[tuple[str, str, bytes]] = []
    for label, value in sorted(secrets.items()):
        raw = value.encode() if isinstance(value, str) else value
        for enc in encodings(raw):
            needles.append((label, "raw" if enc == raw else "base64", enc))
    hits: list[PlaintextHit] = []
    for path in _files(paths):
        data = path.read_bytes()
        seen: set[str] = set()
        for label, form, needle in needles:
            if label not in seen and needle in data:
                seen.add(label)
                hits.append(PlaintextHit(path, label, form))
    return hits


def parse_data(literals: Iterable[str], files: Iterable[str]) -> dict[str, bytes]:
    """Collect secret values from ``--from-literal K=V`` and ``--from-file [K=]PATH`` flags.

    Args:
        literals: ``KEY=VALUE`` strings (the value may contain ``=``).
        files: ``KEY=PATH`` or ``PATH`` (key = the file's name), as kubectl accepts them.

    Returns:
        Key -> value bytes.

    Raises:
        UsageError: A flag is malformed, a key is repeated or invalid, a file is unreadable.
    """
    out: dict[str, bytes] = {}

    def put(key: str, value: bytes, flag: str) -> None:
        try:
            check_data_key(key)
        except UsageError as exc:
            raise UsageError(f"{flag}: {exc}") from None
        if key in out:
            raise UsageError(f'{flag}: key "{key}" is given twice')
        out[key] = value

    for item in literals:
        key, sep, text = item.partition("=")
        if not sep or not key:
            # Never echo the flag's text: it may be the secret itself.
            raise UsageError("--from-literal: expected KEY=VALUE")
        put(key, text.encode(), "--from-literal")
    for item in files:
        key, sep, name = item.partition("=")
        if not sep:
            key, name = Path(item).name, item
        if not name:
            raise UsageError(f"--from-file: {item}: expected KEY=PATH or PATH")
        try:
            content = Path(name).read_bytes()
        except OSError as exc:
            raise UsageError(f"--from-file: {name}: cannot read: {exc.strerror}") from None
        put(key, content, "--from-file")
    return out


def resolve_cert(cert: Path | None, repo_dir: Path | None = None) -> x509.Certificate:
    """Find the certificate to seal with.

    Order: an explicit ``--cert``; homeport's own pair in ``$HOMEPORT_HOME``; the public
    ``sealing-cert.pem`` that ``homeport init`` put next to homeport.yaml (lets collaborators
    without the private key seal).

    Args:
        cert: Path given by the user, if any.
        repo_dir: Directory of homeport.yaml, if known.

    Returns:
        The certificate.

    Raises:
        UsageError: No certificate was found or it cannot be read.
    """
    if cert is not None:
        return load_cert(cert)
    for candidate in (home_dir() / CERT_FILE, (repo_dir / CERT_FILE) if repo_dir else None):
        if candidate is not None and candidate.is_file():
            return load_cert(candidate)
    raise UsageError("no sealing certificate: run `homeport init` first, or pass --cert CERT.pem")


# -- the platform's own secrets (homeport init) -----------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Lengths of generated values. Letters and digits only: they end up in URLs, env vars and
# connection strings where punctuation needs escaping.
_GENERATED: dict[tuple[str, str], int] = {
    (psec.AUTHENTIK_SECRETS.name, "secret-key"): 64,  # Authentik wants 50+ characters
    (psec.AUTHENTIK_SECRETS.name, "bootstrap-password"): 32,
    (psec.AUTHENTIK_SECRETS.name, "bootstrap-token"): 64,
    (psec.AUTHENTIK_DB.name, "password"): 32,
    (psec.GRAFANA_ADMIN.name, "admin-password"): 32,
}


def random_secret(length: int) -> str:
    """Return a random string of letters and digits from the OS CSPRNG."""
    return "".join(pysecrets.choice(_ALNUM) for _ in range(length))


def _fixed_values(ps: PlatformSecret, cfg: HomeportConfig, token: str | None) -> dict[str, str]:
    """Values that come from the config or the user, not from the generator."""
    if _is_token_secret(ps):
        return {psec.CLOUDFLARE_TOKEN_KEY: token} if token is not None else {}
    if ps is psec.AUTHENTIK_SECRETS:
        return {"bootstrap-email": cfg.email}
    if ps is psec.AUTHENTIK_DB:
        return {"username": "authentik"}
    if ps is psec.GRAFANA_ADMIN:
        return {"admin-user": "admin"}
    if ps.name == psec.BACKUP_S3_NAME and cfg.backup.s3 is not None and cfg.backup.s3.region:
        return {psec.BACKUP_S3_REGION_KEY: cfg.backup.s3.region}
    return {}


def user_keys(ps: PlatformSecret, cfg: HomeportConfig) -> tuple[str, ...]:
    """Keys of a platform secret only the user can give (not generated, not from the config).

    The Cloudflare token is answered by its own flag and is not listed here.
    """
    if _is_token_secret(ps):
        return ()
    fixed = _fixed_values(ps, cfg, None)
    return tuple(k for k in ps.keys if k not in fixed and (ps.name, k) not in _GENERATED)


def _is_token_secret(ps: PlatformSecret) -> bool:
    return ps.keys == (psec.CLOUDFLARE_TOKEN_KEY,)


def token_needed(tree: Path, cfg: HomeportConfig) -> bool:
    """Whether init needs a Cloudflare token: some secret holding it is not in the tree yet."""
    return any(
        not secret_path(tree, ps.namespace, ps.name).exists()
        for ps in psec.platform_secrets(cfg)
        if _is_token_secret(ps)
    )


@dataclass(frozen=True)
class PlannedSecret:
    """One platform secret init will write (or keep).

    Attributes:
        secret: Which platform secret.
        path: Its file in the tree.
        status: ``created``, ``replaced``, ``kept`` or ``updated``.
        sealed: The SealedSecret to write, or ``None`` when the file is kept as it is.
    """

    secret: PlatformSecret
    path: Path
    status: str
    sealed: dict[str, Any] | None


def plan_platform_secrets(
    tree: Path,
    cfg: HomeportConfig,
    cert: x509.Certificate,
    private_key: rsa.RSAPrivateKey,
    token: str | None,
    *,
    force: bool = False,
    rotate: bool = False,
    supplied: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    keep_existing: bool = False,
) -> list[PlannedSecret]:
    """Decide, without writing anything, what init does with each platform secret.

    Safe by default: a secret already in the tree is an error without ``force``. With
    ``force`` generated values (passwords, keys) are kept, because a regenerated database
    password no longer matches a database that already exists; a new Cloudflare token
    replaces the old one. ``rotate`` regenerates every generated value.

    Args:
        tree: The GitOps tree.
        cfg: The validated config.
        cert: Certificate to seal with.
        private_key: The matching private key (to read back secrets that are kept).
        token: The Cloudflare API token, or ``None`` to keep the sealed one.
        force: Allow touching secrets that exist.
        rotate: Regenerate generated values of existing secrets.
        supplied: Values the user gave (S3 keys, SMTP password, app secrets), by
            ``(namespace, name)``; they replace the sealed ones like a new token does.
        keep_existing: Without ``force``, leave secrets that exist as they are instead of
            failing (``init --use-config`` adds what a newly enabled feature needs).

    Returns:
        One entry per platform secret, in :func:`platform_secrets` order.

    Raises:
        SecretExistsError: A secret exists and ``force`` is false.
        UsageError: No token was given and one is needed.
        SealError: An existing secret cannot be opened with this key.
    """
    out: list[PlannedSecret] = []
    for ps in psec.platform_secrets(cfg):
        path = secret_path(tree, ps.namespace, ps.name)
        exists = path.exists()
        if exists and not force and keep_existing:
            out.append(PlannedSecret(ps, path, "kept", None))
            continue
        if exists and not force:
            raise SecretExistsError(
                f"{path}: sealed secret {ps.namespace}/{ps.name} already exists; use --force to "
                "keep its generated values and rewrite the rest"
            )
        old: dict[str, str] | None = None
        if exists:
            try:
                opened = unseal(read_sealed(path), [private_key])
            except SealError:
                if not rotate or (_is_token_secret(ps) and token is None):
                    raise SealError(
                        f"{path}: this key did not seal this secret; restore the key that did "
                        "into $HOMEPORT_HOME, or use --rotate to generate new values"
                    ) from None
                opened = {}
            old = {k: v.decode("utf-8", "replace") for k, v in opened.items()}
        values: dict[str, str] = {}
        if old is not None:
            # --rotate regenerates what homeport generated; what the user gave stays.
            values = {
                k: v
                for k, v in old.items()
                if k in ps.keys and not (rotate and (ps.name, k) in _GENERATED)
            }
        values.update(_fixed_values(ps, cfg, token))
        values.update((supplied or {}).get((ps.namespace, ps.name), {}))
        for key in ps.keys:
            if key not in values:
                length = _GENERATED.get((ps.name, key))
                if length is None:
                    if _is_token_secret(ps):
                        raise UsageError(
                            "a Cloudflare API token is needed: pass --cloudflare-token-file"
                        )
                    raise UsageError(f"no value for {ps.namespace}/{ps.name} key {key}")
                values[key] = random_secret(length)
        if old == values:
            out.append(PlannedSecret(ps, path, "kept", None))
            continue
        sealed = seal_secret(
            cert,
            ps.name,
            ps.namespace,
            {k: values[k].encode() for k in ps.keys},
            secret_type=ps.type,
            labels={"app.kubernetes.io/managed-by": "homeport"},
        )
        out.append(PlannedSecret(ps, path, "replaced" if exists else "created", sealed))
    return out


def write_planned(tree: Path, planned: list[PlannedSecret]) -> None:
    """Write what :func:`plan_platform_secrets` decided (each file atomically, under the lock)."""
    with tree_lock(tree):
        for p in planned:
            if p.sealed is not None:
                write_sealed(tree, p.sealed, replace=True)


__all__ = [
    "PlaintextHit",
    "PlannedSecret",
    "SecretExistsError",
    "StoredSecret",
    "atomic_write_text",
    "check_data_key",
    "check_name",
    "check_namespace",
    "encodings",
    "find_plaintext",
    "guard_no_plaintext",
    "list_secrets",
    "parse_data",
    "plan_platform_secrets",
    "random_secret",
    "read_sealed",
    "resolve_cert",
    "secret_path",
    "secrets_root",
    "token_needed",
    "user_keys",
    "write_planned",
    "write_sealed",
]
