"""Throwaway sealing key pairs, one of each per test process.

An RSA-4096 pair takes about a second to generate (and a private key a quarter of a
second to load, with its consistency checks), so tests that only need *a* key pair, or
*another* one, share these instead of making their own. Tests about creating the key
(``tests/test_sealing.py``, ``homeport init`` in a fresh home) still create it.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport import sealing


@cache
def throwaway_pair(which: str = "first") -> tuple[bytes, bytes]:
    """A key pair made once per process for ``which``: (private key PEM, certificate PEM)."""
    del which  # only tells pairs apart in the cache
    return sealing.generate_keypair()


@cache
def throwaway_cert(which: str = "first") -> x509.Certificate:
    """The certificate of :func:`throwaway_pair`."""
    return x509.load_pem_x509_certificate(throwaway_pair(which)[1])


def write_pair(home: Path, which: str = "first") -> sealing.KeyPair:
    """Lay :func:`throwaway_pair` out in ``home`` as ``sealing.ensure_keypair`` would."""
    key_pem, cert_pem = throwaway_pair(which)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    pair = sealing.KeyPair(home / sealing.KEY_FILE, home / sealing.CERT_FILE)
    pair.key_path.write_bytes(key_pem)
    os.chmod(pair.key_path, 0o600)
    pair.cert_path.write_bytes(cert_pem)
    return pair


_LOAD = sealing.load_private_key
_KEYS: dict[str, rsa.RSAPrivateKey] = {}


def private_key(path: Path) -> rsa.RSAPrivateKey:
    """``sealing.load_private_key``, run once per key content in this process.

    Loading checks the RSA key's consistency, a quarter of a second for RSA-4096; tests
    open many secrets with the same few keys. Errors are not remembered: a bad file
    raises each time, as the real function does. Tests that run the CLI in-process
    put this in its place (the same key object for the same bytes).
    """
    data = Path(path).read_bytes() if Path(path).is_file() else b""
    digest = hashlib.sha256(data).hexdigest()
    key = _KEYS.get(digest) if data else None
    if key is None:
        key = _LOAD(path)
        _KEYS[digest] = key
    return key
