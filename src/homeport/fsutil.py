"""Atomic file writes, and the lock every command that writes the GitOps tree holds.

Readers of an atomic write see the old content or the new, never half of either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from homeport.errors import UsageError


def atomic_write(path: Path, data: bytes | str, *, mode: int | None = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically.

    The temporary file is created with mode 0600 (``mkstemp``), so a private key is never
    readable by others, not even for a moment; it gets ``mode`` only once complete.

    Args:
        path: Destination (its directory must exist).
        data: Content; text is written as UTF-8.
        mode: Final file mode; ``None`` keeps the mode of the file being replaced (0644
            for a new file).
    """
    path = Path(path)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Locks held, by directory and thread, with their depth: a command that holds the lock and
# calls another writer (app add -> render) must not wait for itself.
_HELD: dict[tuple[str, int], tuple[int, int]] = {}


@contextlib.contextmanager
def tree_lock(tree: Path, *, timeout: float = 60.0) -> Iterator[None]:
    """Hold the lock every command that writes the GitOps tree takes.

    The lock is an ``flock`` on the tree's parent directory, which stays put while
    render swaps the tree itself in and out, and leaves no file behind to commit.
    Re-entrant within one thread.

    Args:
        tree: The tree directory (it need not exist yet).
        timeout: Seconds to wait for another command to finish.

    Raises:
        UsageError: Another command held the lock for longer than ``timeout``.
    """
    parent = Path(tree).absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    key = (str(parent.resolve()), threading.get_ident())
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            _HELD[key] = (fd, _HELD[key][1] - 1)
        return
    fd = os.open(key[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UsageError(
                        f"{tree}: another homeport command is writing this tree; try again "
                        "when it has finished"
                    ) from None
                time.sleep(0.05)
        _HELD[key] = (fd, 1)
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # closing the descriptor releases the flock
