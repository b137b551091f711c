"""Atomic file writes: readers see the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
