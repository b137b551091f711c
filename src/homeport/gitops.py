"""Lay the platform out as an Argo CD GitOps tree and write it atomically.

Tree layout (``<out>`` is ``git.path`` inside the user's repository)::

    root-app.yaml                   the app-of-apps; apply it once (bootstrap does)
    apps/project.yaml               AppProject limiting sources and destinations
    apps/<component>.yaml           one Application per component, with its sync wave
    components/<component>/*.yaml   plain manifests of components that are not charts
    secrets/<namespace>/<name>.yaml SealedSecrets (written by init / secret set, never by render)
    .homeport/owned                 the files render wrote, so it only ever removes its own

Writing builds the new tree in a sibling temporary directory (carrying over every file
render does not own) and swaps it in with two renames; any failure before the swap
leaves the previous tree untouched, and a crash between the two renames is repaired by
the next run. A tree that is already up to date is not touched at all.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from homeport import plaintext, yamlio
from homeport.config import HomeportConfig
from homeport.errors import PlaintextSecretError, RenderError
from homeport.fsutil import tree_lock
from homeport.platform import (
    apps,
    argocd,
    authentik,
    backup,
    certmanager,
    ddns,
    loadbalancer,
    monitoring,
    secrets,
    traefik,
)
from homeport.platform.base import WAVE_NAMESPACES, Component, NamespaceSpec, Obj, keep, meta
from homeport.platform.policies import netpol

OWNED_FILE = ".homeport/owned"
SECRETS_README = """# Sealed secrets

SealedSecrets written by `homeport init` and `homeport secret set`, one file per secret:
`<namespace>/<name>.yaml`. They are encrypted for this cluster's Sealed Secrets key and
safe to commit. `homeport render` never writes or removes anything here except this file.
"""
_OWNED_HEADER = "# Files written by `homeport render`; it removes only these. Do not edit.\n"
_OLD_SUFFIX = ".homeport-old"
_PSA_LEVELS = ("privileged", "baseline", "restricted")

# Component modules in the order their Applications are built; each returns components(cfg).
ComponentFn = Callable[[HomeportConfig], list[Component]]
COMPONENT_MODULES: tuple[ComponentFn, ...] = (
    argocd.components,
    secrets.components,
    loadbalancer.components,
    traefik.components,
    certmanager.components,
    ddns.components,
    authentik.components,
    monitoring.components,
    backup.components,
    apps.components,
)


def guard_no_plaintext(obj: Obj, where: str) -> None:
    """Refuse a plain Secret carrying data: only SealedSecrets may reach Git.

    Args:
        obj: The object about to be written.
        where: The file it would be written to (for the message).

    Raises:
        PlaintextSecretError: The object is (or holds) a v1 Secret with data.
    """
    try:
        plaintext.guard_no_plaintext(obj)
    except PlaintextSecretError as exc:
        raise PlaintextSecretError(f"{where}: {exc}") from None


def namespace_objects(specs: Iterable[NamespaceSpec], k8s_version: str) -> list[Obj]:
    """Namespaces with Pod Security labels, a default-deny policy and their allows.

    Specs naming the same namespace are merged (the least strict level wins, policies add up).

    Args:
        specs: Namespace specs from every component.
        k8s_version: Kubernetes minor version for the ``enforce-version`` label.

    Returns:
        Namespace and NetworkPolicy objects, sorted by namespace.
    """
    merged: dict[str, tuple[str, list[Obj], bool]] = {}
    for spec in specs:
        level, pols, kept = merged.get(spec.name, ("restricted", [], False))
        if _PSA_LEVELS.index(spec.pod_security) < _PSA_LEVELS.index(level):
            level = spec.pod_security
        names = {p["metadata"]["name"] for p in pols}
        pols = pols + [p for p in spec.policies if p["metadata"]["name"] not in names]
        merged[spec.name] = (level, pols, kept or spec.keep)
    out: list[Obj] = []
    for name in sorted(merged):
        level, pols, kept = merged[name]
        md = meta(
            name,
            None,
            **{
                "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/enforce-version": f"v{k8s_version}",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        )
        ns_obj: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": md}
        out.append(keep(ns_obj) if kept else ns_obj)
        out.append(netpol("default-deny", name, ingress=[], egress=[]))
        out.extend(sorted(pols, key=lambda p: str(p["metadata"]["name"])))
    return out


def build_components(cfg: HomeportConfig) -> list[Component]:
    """Every component of the platform for this config, the namespaces one first.

    Args:
        cfg: The config.

    Returns:
        The components, ordered by sync wave then name.

    Raises:
        RenderError: Two components share a name.
    """
    comps: list[Component] = []
    for fn in COMPONENT_MODULES:
        comps.extend(fn(cfg))
    specs = [ns for c in comps for ns in c.namespaces]
    # One list for the glob and the AppProject (argocd.destinations), so they never disagree.
    include = secrets.sync_include(argocd.destinations(comps))
    for c in comps:
        if c.name == "secrets" and c.source is not None:
            # Sync only sealed secrets whose namespace exists (see sync_include).
            c.source = {**c.source, "directory": {**c.source["directory"], "include": include}}
    comps.append(
        Component(
            name="namespaces",
            namespace="default",
            wave=WAVE_NAMESPACES,
            objects=namespace_objects(specs, cfg.kubernetes.version),
            description="Namespaces with Pod Security labels and default-deny network policies",
            per_namespace_files=True,
        )
    )
    seen: set[str] = set()
    for c in comps:
        if c.name in seen:
            raise RenderError(f"two components are named {c.name}")
        seen.add(c.name)
    return sorted(comps, key=lambda c: (c.wave, c.name))


def _file_name(obj: Obj, taken: set[str]) -> str:
    md = obj.get("metadata") or {}
    base = f"{str(obj['kind']).lower()}-{md.get('name', 'unnamed')}"
    name = f"{base}.yaml"
    if name in taken:
        name = f"{base}-{md.get('namespace', 'cluster')}.yaml"
    taken.add(name)
    return name


@dataclass
class RenderedTree:
    """A rendered tree, in memory.

    Attributes:
        files: Relative path -> file text, for every file render owns.
        components: The components it was built from.
    """

    files: dict[str, str] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)

    def objects(self) -> list[tuple[str, Obj]]:
        """Every object with the relative path of its file."""
        return [
            (p, o)
            for p, text in sorted(self.files.items())
            if p.endswith(".yaml")
            for o in yamlio.load_all(text)
        ]


def render_tree(cfg: HomeportConfig) -> RenderedTree:
    """Render the whole platform for a config (in memory; nothing is written).

    Args:
        cfg: The validated config.

    Returns:
        The rendered tree.

    Raises:
        PlaintextSecretError: Some component produced a plain Secret with data.
        RenderError: The components are inconsistent.
    """
    comps = build_components(cfg)
    files: dict[str, str] = {}
    files["root-app.yaml"] = yamlio.dump(argocd.root_application(cfg))
    # Argo CD fails an Application whose path is missing; Git keeps no empty folders.
    files[f"{secrets.SECRETS_DIR}/README.md"] = SECRETS_README
    files["apps/project.yaml"] = yamlio.dump(argocd.project(cfg, comps))
    for comp in comps:
        files[f"apps/{comp.name}.yaml"] = yamlio.dump(argocd.application(cfg, comp))
        if comp.per_namespace_files:
            groups: dict[str, list[Obj]] = {}
            for obj in comp.objects:
                md = obj.get("metadata") or {}
                ns = (
                    md.get("namespace") or md.get("name")
                    if obj.get("kind") == "Namespace"
                    else md.get("namespace")
                )
                groups.setdefault(str(ns or "cluster"), []).append(obj)
            for ns, objs in sorted(groups.items()):
                path = f"components/{comp.name}/{ns}.yaml"
                for obj in objs:
                    guard_no_plaintext(obj, path)
                files[path] = yamlio.dump_all(objs)
            continue
        taken: set[str] = set()
        for obj in comp.objects:
            path = f"components/{comp.name}/{_file_name(obj, taken)}"
            guard_no_plaintext(obj, path)
            files[path] = yamlio.dump(obj)
    return RenderedTree(files=dict(sorted(files.items())), components=comps)


# ---------------------------------------------------------------- writing


@dataclass
class WriteResult:
    """What writing a tree changed.

    Attributes:
        added: Files that did not exist.
        changed: Files whose content changed.
        removed: Files render wrote before and the config no longer asks for.
        unchanged: Files already up to date.
        check_code: What the check of the written tree returned (0: passed or not run).
    """

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    check_code: int = 0

    @property
    def total_changes(self) -> int:
        """Number of files added, changed or removed."""
        return len(self.added) + len(self.changed) + len(self.removed)


def read_owned(out: Path) -> set[str]:
    """Return the files a previous render wrote into ``out`` (empty when none)."""
    try:
        text = (out / OWNED_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    return {ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}


def _recover(out: Path) -> None:
    # A crash between the two renames of a swap leaves the old tree under a known name.
    old = out.with_name(out.name + _OLD_SUFFIX)
    if old.exists() and not out.exists():
        os.replace(old, out)
    elif old.exists():
        shutil.rmtree(old)


def plan(tree: RenderedTree, out: Path) -> WriteResult:
    """Compare a rendered tree with what is on disk, without writing.

    Args:
        tree: The rendered tree.
        out: The tree directory.

    Returns:
        The files that writing would add, change, remove or leave alone.
    """
    res = WriteResult()
    owned = read_owned(out)
    for rel, text in tree.files.items():
        p = out / rel
        if not p.exists():
            res.added.append(rel)
        elif p.read_text(encoding="utf-8") != text:
            res.changed.append(rel)
        else:
            res.unchanged.append(rel)
    res.removed = sorted(rel for rel in owned - set(tree.files) if (out / rel).exists())
    return res


def diff(tree: RenderedTree, out: Path) -> str:
    """A unified diff of what writing ``tree`` into ``out`` would change."""
    res = plan(tree, out)
    chunks: list[str] = []
    for rel in sorted(res.added + res.changed + res.removed):
        p = out / rel
        old = p.read_text(encoding="utf-8").splitlines(keepends=True) if p.exists() else []
        new = tree.files.get(rel, "").splitlines(keepends=True)
        chunks.extend(
            difflib.unified_diff(
                old,
                new,
                fromfile=f"a/{rel}" if old else "/dev/null",
                tofile=f"b/{rel}" if rel in tree.files else "/dev/null",
            )
        )
    return "".join(chunks)


def _check_out_dir(out: Path) -> None:
    if (out / ".git").exists():
        raise RenderError(
            f"{out}: is a Git repository root; render into a subdirectory (git.path, e.g. cluster/)"
        )
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not (out / OWNED_FILE).exists():
        foreign = [p.name for p in out.iterdir() if p.name not in ("secrets", ".homeport")]
        if foreign:
            raise RenderError(
                f"{out}: holds files homeport did not render ({', '.join(sorted(foreign)[:3])}); "
                "choose an empty directory or move them"
            )


class TreeCheckFailed(RenderError):
    """The staged tree failed its check, so it was not written (``--force`` writes anyway).

    Attributes:
        exit_code: The check's exit code.
    """

    def __init__(self, out: Path, code: int, message: str = "") -> None:
        super().__init__(
            message
            or f"{out}: the rendered tree fails its check; nothing was written "
            "(fix the findings above, or --force to write it anyway)"
        )
        self.exit_code = code


# Runs on the staged tree before it replaces the old one: 0 when it may be written.
Verify = Callable[[Path], int]


def _carry_over(out: Path, tmp: Path, owned_before: set[str]) -> None:
    """Copy everything render does not own from ``out`` into ``tmp``, byte for byte.

    A symbolic link (a ``secrets/`` kept elsewhere, say) is copied as the link: following
    it would copy what it points to, or, for a directory, drop it.
    """
    for src in sorted(out.rglob("*")):  # rglob yields a linked directory, never its contents
        rel = src.relative_to(out).as_posix()
        if rel in owned_before or rel == OWNED_FILE:
            continue
        if src.is_dir() and not src.is_symlink():
            continue  # created as its files need it
        dst = tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)


def write_tree(
    tree: RenderedTree,
    out: Path,
    *,
    verify: Verify | None = None,
    force: bool = False,
    _fail_after: int | None = None,
) -> WriteResult:
    """Write a rendered tree into ``out`` atomically, under the tree lock.

    Files render does not own (sealed secrets, the user's own files, symbolic links) are
    carried over untouched; files it rendered before and no longer renders are removed.
    The new tree is staged next to ``out`` and, when ``verify`` is given, checked there
    before it replaces the old one.

    Args:
        tree: The rendered tree.
        out: The tree directory (created if missing).
        verify: Called with the staged tree (or with ``out`` when nothing changes); a
            non-zero return stops the write unless ``force``.
        force: Write even when ``verify`` fails.
        _fail_after: Test hook: raise after writing this many files (simulates a crash).

    Returns:
        What changed; ``check_code`` holds what ``verify`` returned.

    Raises:
        TreeCheckFailed: ``verify`` failed and ``force`` is false (``out`` is untouched).
        RenderError: ``out`` is unsafe to write, or writing failed (``out`` is then untouched).
        UsageError: Another command kept the tree locked.
    """
    out = out.absolute()
    with tree_lock(out):
        return _write_locked(tree, out, verify, force, _fail_after)


def _write_locked(
    tree: RenderedTree, out: Path, verify: Verify | None, force: bool, _fail_after: int | None
) -> WriteResult:
    _recover(out)
    _check_out_dir(out)
    result = plan(tree, out)
    owned_before = read_owned(out)
    if result.total_changes == 0 and owned_before == set(tree.files):
        # Already up to date: touch nothing, but still say whether the tree passes.
        result.check_code = verify(out) if verify is not None else 0
        return result
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.homeport-", dir=out.parent))
    try:
        if out.exists():
            _carry_over(out, tmp, owned_before)
        for n, (rel, text) in enumerate(tree.files.items()):
            if _fail_after is not None and n >= _fail_after:
                raise OSError("injected failure")
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
        owned = tmp / OWNED_FILE
        owned.parent.mkdir(parents=True, exist_ok=True)
        owned.write_text(
            _OWNED_HEADER + "".join(f"{rel}\n" for rel in tree.files), encoding="utf-8"
        )
        os.chmod(tmp, 0o755)
        if verify is not None:
            result.check_code = verify(tmp)
            if result.check_code and not force:
                raise TreeCheckFailed(out, result.check_code)
        old = out.with_name(out.name + _OLD_SUFFIX)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        if old.exists():
            shutil.rmtree(old)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RenderError(
            f"{out}: could not write the tree ({exc}); the previous tree is untouched"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def tree_digest(out: Path) -> str:
    """SHA-256 over every file of a tree (paths and bytes), for tests and benchmarks."""
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(out).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
