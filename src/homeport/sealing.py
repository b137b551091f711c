"""Sealed Secrets, offline: the controller's key pair and the v0.36 wire format.

homeport generates the RSA-4096 key pair the Sealed Secrets controller will use, so
secrets can be sealed before a cluster exists and a restore needs only that key.

Wire format of one sealed value (bitnami-labs/sealed-secrets ``pkg/crypto``)::

    uint16 BE len(rsa_ct) || rsa_ct || aes_gcm_ct
    rsa_ct     = RSA-OAEP(SHA-256, session key, label)
    aes_gcm_ct = AES-256-GCM(session key, nonce = 12 zero bytes, plaintext)   (tag appended)

The OAEP label binds the value to where it may be opened: ``"<ns>/<name>"`` (strict),
``"<ns>"`` (namespace-wide) or ``""`` (cluster-wide). A zero nonce is safe because every
value gets a fresh session key.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets as pysecrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from homeport.errors import SealError, UsageError
from homeport.fsutil import atomic_write

Scope = Literal["strict", "namespace-wide", "cluster-wide"]
SCOPES: tuple[Scope, ...] = ("strict", "namespace-wide", "cluster-wide")
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
SCOPE_ANNOTATIONS = {
    "namespace-wide": "sealedsecrets.bitnami.com/namespace-wide",
    "cluster-wide": "sealedsecrets.bitnami.com/cluster-wide",
}
KEY_FILE = "sealing-key.pem"
CERT_FILE = "sealing-cert.pem"
_KEY_BITS = 4096
_CERT_DAYS = 3650  # the controller's own default validity


def home_dir() -> Path:
    """Return homeport's private directory: ``$HOMEPORT_HOME`` or the user config dir."""
    env = os.environ.get("HOMEPORT_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "homeport"


@dataclass(frozen=True)
class KeyPair:
    """The sealing key pair on disk.

    Attributes:
        key_path: PEM private key (PKCS#1, mode 0600).
        cert_path: PEM self-signed certificate (public).
    """

    key_path: Path
    cert_path: Path

    def private_key(self) -> rsa.RSAPrivateKey:
        """Load the private key."""
        return load_private_key(self.key_path)

    def certificate(self) -> x509.Certificate:
        """Load the certificate."""
        return load_cert(self.cert_path)


def _write_private(path: Path, data: bytes, mode: int) -> None:
    # Create with the final mode from the start so the key is never world-readable.
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, data, mode=mode)


def generate_keypair() -> tuple[bytes, bytes]:
    """Generate a controller key pair like the Sealed Secrets controller does.

    Returns:
        (private key PEM, certificate PEM).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def ensure_keypair(home: Path | None = None) -> tuple[KeyPair, bool]:
    """Return the sealing key pair, creating it the first time.

    Args:
        home: Directory holding the key (default :func:`home_dir`).

    Returns:
        The key pair and whether it was just created.

    Raises:
        SealError: Only one of the two files exists (a half-lost key must not be replaced).
    """
    d = home or home_dir()
    pair = KeyPair(d / KEY_FILE, d / CERT_FILE)
    have_key, have_cert = pair.key_path.exists(), pair.cert_path.exists()
    if have_key and have_cert:
        return pair, False
    if have_key or have_cert:
        missing = pair.cert_path if have_key else pair.key_path
        raise SealError(f"{missing}: missing while its pair exists; restore it from your backup")
    key_pem, cert_pem = generate_keypair()
    _write_private(pair.key_path, key_pem, 0o600)
    _write_private(pair.cert_path, cert_pem, 0o644)
    return pair, True


def load_cert(path: Path) -> x509.Certificate:
    """Load a PEM certificate (the controller's public sealing certificate).

    Args:
        path: PEM file.

    Returns:
        The certificate.

    Raises:
        UsageError: The file is missing or not a PEM certificate with an RSA key.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read certificate: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise UsageError(f"{path}: not a PEM certificate") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise UsageError(f"{path}: the certificate's key is not RSA")
    return cert


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """Load a PEM RSA private key (PKCS#1 or PKCS#8).

    Args:
        path: PEM file.

    Returns:
        The key.

    Raises:
        UsageError: The file is missing, unreadable or not an RSA private key.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read private key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise UsageError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageError(f"{path}: not an RSA private key")
    return key


def scope_label(scope: Scope, namespace: str, name: str) -> bytes:
    """Return the OAEP label that binds a value to its scope."""
    if scope == "strict":
        return f"{namespace}/{name}".encode()
    if scope == "namespace-wide":
        return namespace.encode()
    return b""


def hybrid_encrypt(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """Encrypt one value in the Sealed Secrets hybrid format.

    Args:
        public_key: The controller's RSA public key.
        plaintext: The secret value.
        label: The scope label (see :func:`scope_label`).

    Returns:
        The sealed bytes.
    """
    session_key = pysecrets.token_bytes(32)
    rsa_ct = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
    )
    aes_ct = AESGCM(session_key).encrypt(b"\x00" * 12, plaintext, None)
    return struct.pack(">H", len(rsa_ct)) + rsa_ct + aes_ct


def hybrid_decrypt(private_key: rsa.RSAPrivateKey, sealed: bytes, label: bytes) -> bytes:
    """Open one value sealed in the hybrid format.

    Args:
        private_key: The controller's RSA private key.
        sealed: The sealed bytes.
        label: The scope label the value was sealed with.

    Returns:
        The plaintext.

    Raises:
        SealError: The data is truncated, or this key (or label) did not seal it.
    """
    if len(sealed) < 2:
        raise SealError("sealed value is truncated")
    (n,) = struct.unpack(">H", sealed[:2])
    if len(sealed) < 2 + n + 16:
        raise SealError("sealed value is truncated")
    try:
        session_key = private_key.decrypt(
            sealed[2 : 2 + n],
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
        )
        return AESGCM(session_key).decrypt(b"\x00" * 12, sealed[2 + n :], None)
    except (ValueError, InvalidTag):
        raise SealError(
            "this key did not seal this secret (or it was sealed for another name or namespace)"
        ) from None


def seal_secret(
    cert: x509.Certificate,
    name: str,
    namespace: str,
    data: dict[str, bytes],
    *,
    scope: Scope = "strict",
    secret_type: str = "Opaque",
    labels: dict[str, str] | None = None,
    template_data: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Seal key/value pairs into a ``bitnami.com/v1alpha1`` SealedSecret object.

    Args:
        cert: The controller's certificate.
        name: Name of the Secret the controller will create.
        namespace: Its namespace.
        data: Keys and plaintext values.
        scope: Where the sealed values may be opened.
        secret_type: The Secret's ``type``.
        labels: Labels for the created Secret.
        template_data: Keys of the created Secret that are not secret, written plain in
            ``spec.template.data`` (the controller reads them as Go templates; plain text
            without ``{{`` stays as it is).

    Returns:
        The SealedSecret as a plain object, keys sorted for stable output.

    Raises:
        UsageError: No data, or an invalid key.
    """
    if not data:
        raise UsageError("a secret needs at least one key (--from-literal or --from-file)")
    pub = cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    label = scope_label(scope, namespace, name)
    encrypted = {
        k: base64.b64encode(hybrid_encrypt(pub, v, label)).decode("ascii")
        for k, v in sorted(data.items())
    }
    annotations = {SCOPE_ANNOTATIONS[scope]: "true"} if scope in SCOPE_ANNOTATIONS else {}
    md: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        md["annotations"] = dict(annotations)
    tmpl_md: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        tmpl_md["annotations"] = dict(annotations)
    if labels:
        tmpl_md["labels"] = dict(sorted(labels.items()))
    template: dict[str, Any] = {"metadata": tmpl_md}
    if secret_type != "Opaque":
        template["type"] = secret_type
    if template_data:
        template["data"] = dict(sorted(template_data.items()))
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": md,
        "spec": {"encryptedData": encrypted, "template": template},
    }


def sealed_scope(sealed: dict[str, Any]) -> Scope:
    """Return the scope a SealedSecret declares (by its annotations)."""
    ann = (sealed.get("metadata") or {}).get("annotations") or {}
    if ann.get(SCOPE_ANNOTATIONS["cluster-wide"]) == "true":
        return "cluster-wide"
    if ann.get(SCOPE_ANNOTATIONS["namespace-wide"]) == "true":
        return "namespace-wide"
    return "strict"


def unseal(sealed: dict[str, Any], keys: list[rsa.RSAPrivateKey]) -> dict[str, bytes]:
    """Open a SealedSecret with any of the given private keys (as the controller does).

    Args:
        sealed: The SealedSecret object.
        keys: Candidate private keys.

    Returns:
        The plaintext values by key.

    Raises:
        SealError: The object is malformed, or no key opens it.
    """
    if sealed.get("kind") != "SealedSecret" or not isinstance(sealed.get("spec"), dict):
        raise SealError("not a SealedSecret")
    md = sealed.get("metadata") or {}
    name, namespace = md.get("name", ""), md.get("namespace", "")
    label = scope_label(sealed_scope(sealed), namespace, name)
    out: dict[str, bytes] = {}
    for k, v in (sealed["spec"].get("encryptedData") or {}).items():
        try:
            blob = base64.b64decode(v, validate=True)
        except (ValueError, TypeError):
            raise SealError(f"{namespace}/{name}: key {k} is not valid base64") from None
        last: SealError | None = None
        for key in keys:
            try:
                out[k] = hybrid_decrypt(key, blob, label)
                break
            except SealError as exc:
                last = exc
        else:
            raise last or SealError("no private key given")
    return out
