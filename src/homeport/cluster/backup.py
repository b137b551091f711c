"""``homeport backup`` and ``homeport restore``: the cluster state Git does not hold.

Git holds the platform; the cluster holds what must survive a rebuild besides it: the
sealing key (without it no SealedSecret opens), issued certificates and their TLS
Secrets (so a restore does not hit Let's Encrypt rate limits), every Secret of the
platform namespaces, Argo CD's Applications, AppProjects and settings, and the CRDs.

Secrets the Sealed Secrets controller made from a SealedSecret are left out: Git and
the sealing key recreate them, and a restored copy would lose its ownerReference (it
names a UID of the old cluster), so the controller would refuse to manage it ("already
exists and is not managed by SealedSecret"): the SealedSecret would stay
``Synced=False`` and a rotation in Git would never reach the Secret.

Archive: an age-encrypted (``pyrage``; X25519 recipient or passphrase) gzip-compressed
tar (compressed before it is encrypted: ciphertext does not compress) holding
``manifest.json`` (format, source, per-section counts and SHA-256 sums) and one YAML
file per section, with server-managed fields stripped. It is built and read in
memory: no plaintext ever touches the disk. Archives written before compression (a
plain tar inside) still open. A restore decrypts and verifies the whole
archive before it sends anything, so a wrong key or a damaged file applies nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from homeport import __version__, sealing, yamlio
from homeport.cluster.apply import ApplyResult, apply_objects
from homeport.cluster.bootstrap import SEALING_NAMESPACE, argocd_manifest_objects
from homeport.cluster.kube import Kube, Obj, identity
from homeport.errors import ClusterError, HomeportError, UsageError
from homeport.fsutil import atomic_write
from homeport.platform.base import ARGOCD_NS
from homeport.versions import ARGOCD_VERSION
from homeport.wellknown import (
    ARGOCD_GROUP,
    AUTHENTIK_NAMESPACE,
    CERT_MANAGER_GROUP,
    CERT_MANAGER_NAMESPACE,
    CNPG_GROUP,
    CNPG_NAMESPACE,
    DDNS_NAMESPACE,
    MONITORING_NAMESPACE,
    PROMETHEUS_GROUP,
    SEALED_SECRETS_GROUP,
    TRAEFIK_GROUP,
    TRAEFIK_NAMESPACE,
)

FORMAT = "homeport-backup/1"
MANIFEST = "manifest.json"
# Namespaces whose Secrets are backed up; plus every namespace labelled as homeport's.
PLATFORM_NAMESPACES = (
    ARGOCD_NS,
    AUTHENTIK_NAMESPACE,
    CERT_MANAGER_NAMESPACE,
    DDNS_NAMESPACE,
    CNPG_NAMESPACE,
    MONITORING_NAMESPACE,
    TRAEFIK_NAMESPACE,
)
MANAGED_LABEL = ("app.kubernetes.io/managed-by", "homeport")
# API groups of the CRDs homeport pins (argo-cd, cert-manager, traefik, sealed-secrets, ...).
CRD_GROUPS = (
    "acme.cert-manager.io",
    ARGOCD_GROUP,
    SEALED_SECRETS_GROUP,
    CERT_MANAGER_GROUP,
    PROMETHEUS_GROUP,
    CNPG_GROUP,
    TRAEFIK_GROUP,
)
# Secrets the cluster makes by itself; restoring them would be wrong.
SKIP_SECRET_TYPES = ("kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token")
ROOT_APP = "root"

# Sections in restore order.
SECTIONS = (
    "sealing-keys",
    "crds",
    "namespaces",
    "argocd-config",
    "secrets",
    "certificates",
    "projects",
    "applications",
)

_STRIP_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "ownerReferences",  # they name UIDs that will not exist in the new cluster
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


class BackupError(HomeportError):
    """The archive cannot be used: wrong key or passphrase, damaged, or not a homeport backup."""

    exit_code = 2


def strip(obj: Obj) -> Obj:
    """Copy an object without the fields the server manages (status, uid, versions, ...).

    Args:
        obj: An object as read from the API server.

    Returns:
        What must be applied to recreate it.
    """
    md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _STRIP_METADATA}
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    out["metadata"] = md
    copy: Obj = yamlio.load(yamlio.dump(out))  # a deep, plain copy
    return copy


# --------------------------------------------------------------------------- collect


def unsealed_by_controller(secret: Obj) -> bool:
    """Whether the Sealed Secrets controller made this Secret (a SealedSecret owns it)."""
    for ref in (secret.get("metadata") or {}).get("ownerReferences") or []:
        group = str(ref.get("apiVersion", "")).split("/", 1)[0]
        if group == SEALED_SECRETS_GROUP and ref.get("kind") == "SealedSecret":
            return True
    return False


def _sorted(objs: Iterable[Obj]) -> list[Obj]:
    return sorted(objs, key=identity)


def platform_namespaces(kube: Kube) -> list[str]:
    """Namespaces whose Secrets are backed up: the platform list plus homeport-labelled ones."""
    found = {
        ns["metadata"]["name"]
        for ns in kube.list_objects("v1", "Namespace", labels=dict([MANAGED_LABEL]))
    }
    return sorted(
        found | {ns for ns in PLATFORM_NAMESPACES if kube.get("v1", "Namespace", ns) is not None}
    )


def collect(kube: Kube) -> dict[str, list[Obj]]:
    """Read everything a backup holds, by section, stripped and sorted.

    Raises:
        ClusterError: The cluster is unreachable or a list is forbidden.
    """
    sections: dict[str, list[Obj]] = {s: [] for s in SECTIONS}
    keys = kube.list_objects("v1", "Secret", SEALING_NAMESPACE, labels={sealing.KEY_LABEL: None})
    sections["sealing-keys"] = _sorted(strip(s) for s in keys)
    crds = kube.list_objects("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    sections["crds"] = _sorted(
        strip(c) for c in crds if (c.get("spec") or {}).get("group") in CRD_GROUPS
    )
    namespaces = set(platform_namespaces(kube))
    certs = kube.list_objects("cert-manager.io/v1", "Certificate")
    sections["certificates"] = _sorted(strip(c) for c in certs)
    tls_names = {
        (c["metadata"].get("namespace"), (c.get("spec") or {}).get("secretName")) for c in certs
    }
    namespaces |= {ns for ns, _ in tls_names if ns}
    secrets: list[Obj] = []
    for ns in sorted(namespaces):
        for s in kube.list_objects("v1", "Secret", ns):
            # A SealedSecret in Git recreates it; see the module docstring.
            if s.get("type") not in SKIP_SECRET_TYPES and not unsealed_by_controller(s):
                secrets.append(strip(s))
    sections["secrets"] = _sorted(secrets)
    ns_objs = [kube.get("v1", "Namespace", ns) for ns in sorted(namespaces)]
    sections["namespaces"] = _sorted(strip(n) for n in ns_objs if n is not None)
    sections["argocd-config"] = _sorted(
        strip(c)
        for c in kube.list_objects("v1", "ConfigMap", ARGOCD_NS)
        if c["metadata"]["name"] != "kube-root-ca.crt"
    )
    sections["projects"] = _sorted(
        strip(p) for p in kube.list_objects("argoproj.io/v1alpha1", "AppProject")
    )
    apps = [strip(a) for a in kube.list_objects("argoproj.io/v1alpha1", "Application")]
    # The root Application goes last: everything it syncs should find its secrets in place.
    sections["applications"] = sorted(
        apps, key=lambda a: (a["metadata"]["name"] == ROOT_APP, identity(a))
    )
    return sections


# --------------------------------------------------------------------------- archive


@dataclass
class Archive:
    """A decrypted, verified backup.

    Attributes:
        manifest: The inner manifest (format, source, counts, sums).
        sections: Objects by section, in restore order.
    """

    manifest: dict[str, Any]
    sections: dict[str, list[Obj]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of objects."""
        return sum(len(v) for v in self.sections.values())


def _counts(objs: list[Obj]) -> dict[str, int]:
    out: dict[str, int] = {}
    for o in objs:
        out[str(o.get("kind"))] = out.get(str(o.get("kind")), 0) + 1
    return dict(sorted(out.items()))


def pack(
    sections: dict[str, list[Obj]], source: dict[str, str], created: dt.datetime | None = None
) -> bytes:
    """Build the inner (plaintext) tar of a backup, deterministically, in memory.

    Args:
        sections: Objects by section.
        source: Where they came from (server, Kubernetes version).
        created: Backup time (default now).

    Returns:
        The tar bytes.
    """
    created = created or dt.datetime.now(dt.UTC).replace(microsecond=0)
    files: dict[str, bytes] = {}
    entries = []
    for i, name in enumerate(SECTIONS):
        objs = sections.get(name, [])
        path = f"{i:02d}-{name}.yaml"
        data = yamlio.dump_all(objs).encode()
        files[path] = data
        entries.append(
            {
                "name": name,
                "file": path,
                "count": len(objs),
                "kinds": _counts(objs),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    all_objs = [o for name in SECTIONS for o in sections.get(name, [])]
    manifest = {
        "format": FORMAT,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "homeport": __version__,
        "argocd": ARGOCD_VERSION,
        "source": dict(sorted(source.items())),
        "total": len(all_objs),
        "counts": _counts(all_objs),
        "sections": entries,
    }
    files = {MANIFEST: json.dumps(manifest, indent=2, sort_keys=True).encode(), **files}
    buf = io.BytesIO()
    mtime = int(created.timestamp())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), mtime, 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack(data: bytes) -> Archive:
    """Read and verify the inner tar of a backup.

    Raises:
        BackupError: Not a homeport backup, or a file does not match its SHA-256 or count.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            files = {}
            for m in tar.getmembers():
                f = tar.extractfile(m) if m.isfile() else None
                if f is not None:
                    files[m.name] = f.read()
    except tarfile.TarError as exc:
        raise BackupError(f"the archive's content is damaged: {exc}") from None
    try:
        manifest = json.loads(files[MANIFEST])
    except (KeyError, ValueError):
        raise BackupError("not a homeport backup (no valid manifest.json inside)") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"unsupported backup format {manifest.get('format')!r} (expected {FORMAT})"
        )
    archive = Archive(manifest=manifest)
    for entry in manifest.get("sections") or []:
        body = files.get(entry.get("file", ""))
        if body is None or hashlib.sha256(body).hexdigest() != entry.get("sha256"):
            raise BackupError(
                f"section {entry.get('name')} does not match its SHA-256 in the manifest"
            )
        objs = list(yamlio.load_all(body.decode()))
        if len(objs) != entry.get("count"):
            raise BackupError(
                f"section {entry.get('name')} holds {len(objs)} objects, "
                f"the manifest says {entry.get('count')}"
            )
        archive.sections[str(entry["name"])] = objs
    if set(archive.sections) != set(SECTIONS):
        raise BackupError("the manifest does not list every section")
    return archive


@dataclass(frozen=True)
class Key:
    """How an archive is encrypted or decrypted: age X25519 keys or a passphrase.

    Attributes:
        recipients: ``age1...`` public keys (encrypt).
        identities: ``AGE-SECRET-KEY-1...`` private keys (decrypt).
        passphrase: A passphrase (scrypt; either direction).
    """

    recipients: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    passphrase: str | None = None

    def __repr__(self) -> str:
        ids = len(self.identities)
        return f"Key(recipients={self.recipients!r}, identities=<{ids}>, passphrase=<redacted>)"


def read_identities(path: Path) -> tuple[str, ...]:
    """Read age identities (``AGE-SECRET-KEY-...`` lines) from an ``age-keygen`` key file.

    Raises:
        UsageError: The file is unreadable or holds no identity.
    """
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read key file: {exc.strerror}") from None
    ids = tuple(ln.strip() for ln in lines if ln.strip().startswith("AGE-SECRET-KEY-"))
    if not ids:
        raise UsageError(f"{path}: no age identity (AGE-SECRET-KEY-...) in the file")
    return ids


def read_recipients(path: Path) -> tuple[str, ...]:
    """Read ``age1...`` recipients from a file (a key file's ``# public key:`` line counts too)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read recipients: {exc.strerror}") from None
    out = []
    for ln in lines:
        s = ln.strip().removeprefix("# public key:").strip()
        if s.startswith("age1"):
            out.append(s)
    if not out:
        raise UsageError(f"{path}: no age recipient (age1...) in the file")
    return tuple(out)


def parse_recipients(key: Key) -> list[Any]:
    """Parse the key's age recipients.

    Raises:
        UsageError: One is not a valid age public key.
    """
    out = []
    for r in key.recipients:
        try:
            out.append(pyrage.x25519.Recipient.from_str(r))
        except pyrage.RecipientError:
            raise UsageError(
                f"--recipient: {r[:12]}... is not a valid age public key (age1...)"
            ) from None
    return out


def encrypt(plain: bytes, key: Key) -> bytes:
    """Encrypt with age to the key's recipients, or its passphrase.

    Raises:
        UsageError: No key given, or a recipient is not a valid age public key.
    """
    if key.recipients:
        return bytes(pyrage.encrypt(plain, parse_recipients(key)))
    if key.passphrase:
        return bytes(pyrage.passphrase.encrypt(plain, key.passphrase))
    raise UsageError("give --recipient/--recipient-file or a passphrase to encrypt the backup")


_GZIP_MAGIC = b"\x1f\x8b"


def seal(plain: bytes, key: Key) -> bytes:
    """Compress the inner tar (deterministically: no name, no mtime), then encrypt it."""
    return encrypt(gzip.compress(plain, compresslevel=9, mtime=0), key)


def _inflate(data: bytes) -> bytes:
    """The inner tar of a decrypted archive (gzip since compression; plain tar before)."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        raise BackupError("the archive's content is damaged: bad gzip stream") from None


def decrypt(blob: bytes, key: Key) -> bytes:
    """Decrypt an age archive.

    Raises:
        BackupError: Not an age file, truncated or altered, or the key/passphrase is wrong.
        UsageError: An identity is malformed, or no key was given.
    """
    if not blob.startswith(b"age-encryption.org/v1\n"):
        raise BackupError("not a homeport backup: the file is not age-encrypted")
    head = blob[:200]
    by_passphrase = b"\n-> scrypt " in head
    if by_passphrase and not key.passphrase:
        raise BackupError(
            "this backup is encrypted with a passphrase; give --passphrase-file (or type it)"
        )
    if not by_passphrase and not key.identities:
        raise BackupError("this backup is encrypted to an age key; give --identity KEYFILE")
    try:
        if by_passphrase:
            assert key.passphrase is not None
            return bytes(pyrage.passphrase.decrypt(blob, key.passphrase))
        try:
            ids = [pyrage.x25519.Identity.from_str(i) for i in key.identities]
        except pyrage.IdentityError:
            raise UsageError("--identity: not a valid age identity (AGE-SECRET-KEY-...)") from None
        return bytes(pyrage.decrypt(blob, ids))
    except pyrage.DecryptError as exc:
        msg = str(exc)
        if "No matching keys" in msg:
            raise BackupError(
                "cannot decrypt the backup: it was not encrypted to this key"
            ) from None
        raise BackupError(
            "cannot decrypt the backup: wrong passphrase, or the file is truncated or was altered"
            if by_passphrase
            else "cannot decrypt the backup: the file is truncated or was altered"
        ) from None


def write_private(path: Path, data: bytes) -> None:
    """Write a file atomically with mode 0600."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise UsageError(f"{path}: directory {path.parent} does not exist")
    atomic_write(path, data, mode=0o600)


@dataclass
class BackupResult:
    """What a backup wrote.

    Attributes:
        path: The archive.
        manifest: Its inner manifest.
        size: Archive size in bytes.
    """

    path: Path
    manifest: dict[str, Any]
    size: int


def backup(kube: Kube, out: Path, key: Key, created: dt.datetime | None = None) -> BackupResult:
    """Back the cluster up into an encrypted archive.

    Args:
        kube: The connection.
        out: Archive path (written atomically, mode 0600); ``{timestamp}`` in it becomes
            the backup time (``20260102T030405Z``), for scheduled backups.
        key: Recipients or passphrase.
        created: Backup time (default now).

    Returns:
        What was written.
    """
    if not (key.recipients or key.passphrase):
        raise UsageError("give --recipient/--recipient-file or a passphrase to encrypt the backup")
    parse_recipients(key)  # a typo in a key fails before the cluster is read
    created = created or dt.datetime.now(dt.UTC).replace(microsecond=0)
    out = Path(str(out).replace("{timestamp}", created.strftime("%Y%m%dT%H%M%SZ")))
    sections = collect(kube)
    version = kube.version().get("gitVersion", "")
    plain = pack(sections, {"server": kube.server, "kubernetes": version}, created)
    blob = seal(plain, key)
    write_private(out, blob)
    return BackupResult(Path(out), unpack(plain).manifest, len(blob))


_STAMP = r"\d{8}T\d{6}Z"


def prune_archives(pattern: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` archives named like ``pattern``.

    Only files whose name is the pattern with ``{timestamp}`` replaced by a backup time
    (``20260102T030405Z``) are considered, so nothing else in the directory is touched;
    the time in the name orders them.

    Args:
        pattern: The ``--out`` path, with ``{timestamp}`` in its file name.
        keep: How many archives to keep (at least 1).

    Returns:
        The archives deleted, oldest first.

    Raises:
        UsageError: ``keep`` is below 1, or the file name has no ``{timestamp}``.
    """
    if keep < 1:
        raise UsageError(f"--keep: {keep} must be at least 1")
    name = Path(pattern).name
    if "{timestamp}" not in name:
        raise UsageError("--keep needs {timestamp} in the --out file name")
    head, _, tail = name.partition("{timestamp}")
    rx = re.compile(re.escape(head) + _STAMP + re.escape(tail))
    folder = Path(pattern).parent
    found = sorted(p for p in folder.iterdir() if rx.fullmatch(p.name) and p.is_file())
    doomed = found[:-keep]
    for p in doomed:
        p.unlink()
    return doomed


def open_archive(path: Path, key: Key) -> Archive:
    """Read, decrypt and verify an archive (nothing touches a cluster).

    Raises:
        UsageError: The file cannot be read.
        BackupError: Wrong key, damaged or foreign file.
    """
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read backup: {exc.strerror}") from None
    return unpack(_inflate(decrypt(blob, key)))


# --------------------------------------------------------------------------- restore


def existing_install(kube: Kube) -> list[str]:
    """What makes a cluster non-empty for a restore: homeport's or Argo CD's traces."""
    found = []
    if kube.get("v1", "Namespace", ARGOCD_NS) is not None:
        found.append(f"namespace {ARGOCD_NS}")
    if kube.list_objects("v1", "Secret", SEALING_NAMESPACE, labels={sealing.KEY_LABEL: None}):
        found.append("a sealing key in kube-system")
    if kube.list_objects("argoproj.io/v1alpha1", "Application"):
        found.append("Argo CD Applications")
    return found


@dataclass
class RestoreResult:
    """What a restore applied, step by step."""

    steps: list[tuple[str, ApplyResult]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Objects applied (or validated, for a dry run)."""
        return sum(r.total for _, r in self.steps)


def restore_plan(archive: Archive, argocd_install: list[Obj]) -> list[tuple[str, list[Obj]]]:
    """The restore steps in order, each with its objects.

    Order: sealing key, CRDs, Argo CD (pinned install, then the saved settings),
    namespaces, Secrets and certificates, projects, Applications (root last).
    """
    s = archive.sections
    install = [o for o in argocd_install if o.get("kind") != "CustomResourceDefinition"]
    return [
        ("sealing key", s["sealing-keys"]),
        ("CRDs", s["crds"]),
        ("Argo CD", install + s["argocd-config"]),
        ("namespaces", s["namespaces"]),
        ("secrets and certificates", s["secrets"] + s["certificates"]),
        ("projects", s["projects"]),
        ("applications", s["applications"]),
    ]


def restore(
    kube: Kube,
    archive: Archive,
    *,
    argocd_manifest: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    progress: Callable[[str, str], None] | None = None,
) -> RestoreResult:
    """Restore a verified archive into a cluster; never deletes anything.

    Args:
        kube: The connection.
        archive: From :func:`open_archive`.
        argocd_manifest: Argo CD install.yaml (default ``$HOMEPORT_ARGOCD_MANIFEST``, else the
            bundled copy).
        force: Restore into a cluster that already has an install.
        dry_run: Validate on the server, store nothing.
        progress: Called with (action, object) after each object.

    Returns:
        What each step applied.

    Raises:
        ClusterError: The cluster is not empty (without ``force``) or rejected an object.
    """
    kube.version()  # reachable, before anything else is read
    found = existing_install(kube)
    if found and not force:
        raise ClusterError(
            "the cluster is not empty (" + ", ".join(found) + "); restore is for a new cluster: "
            "use --force to apply the backup over it (nothing is deleted)"
        )
    out = RestoreResult(dry_run=dry_run)
    for name, objs in restore_plan(archive, argocd_manifest_objects(argocd_manifest)):
        if objs:
            out.steps.append((name, apply_objects(kube, objs, dry_run=dry_run, progress=progress)))
    return out
