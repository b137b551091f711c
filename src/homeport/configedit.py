"""Edit homeport.yaml in place, keeping the user's comments, quoting and key order.

Edits go through ruamel.yaml's round-trip mode; the new text is validated as a whole
config before it replaces the file (atomically), so a bad edit never reaches disk.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from homeport.config import HomeportConfig, parse_config
from homeport.errors import ConfigError, ConfigProblem, UsageError
from homeport.fsutil import atomic_write


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def _load(path: Path) -> tuple[Any, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(str(path), 0, "", "no such file; run `homeport init`")]
        ) from None
    # Validate first so edits start from a good file and errors point at the user's lines.
    parse_config(text, str(path))
    return _yaml().load(text), text


def _dump(data: Any) -> str:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    return buf.getvalue()


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a file's content atomically, keeping its mode.

    Args:
        path: The file.
        text: New content.
    """
    atomic_write(path, text, mode=None)


def add_app(
    path: Path,
    name: str,
    image: str,
    port: int,
    *,
    host: str | None = None,
    auth: str | None = None,
    replicas: int | None = None,
) -> HomeportConfig:
    """Append an app to homeport.yaml.

    Args:
        path: The config file.
        name: App name.
        image: Pinned image.
        port: Container port.
        host: Public host (default <name>.<domain>).
        auth: ``sso`` or ``public``.
        replicas: Number of pods.

    Returns:
        The new, validated config.

    Raises:
        UsageError: An app with that name exists.
        ConfigError: The result would not be a valid config (the file is left untouched).
    """
    data, _ = _load(path)
    apps = data.get("apps")
    if apps is None:
        apps = CommentedSeq()
        data["apps"] = apps
    if any(isinstance(a, dict) and a.get("name") == name for a in apps):
        raise UsageError(
            f'{path}: an app named "{name}" exists; remove it first or pick another name'
        )
    entry = CommentedMap()
    entry["name"] = name
    entry["image"] = image
    entry["port"] = port
    if host is not None:
        entry["host"] = host
    if auth is not None:
        entry["auth"] = auth
    if replicas is not None:
        entry["replicas"] = replicas
    apps.append(entry)
    text = _dump(data)
    cfg = parse_config(text, str(path))
    atomic_write_text(path, text)
    return cfg


def remove_app(path: Path, name: str) -> HomeportConfig:
    """Remove an app from homeport.yaml.

    Args:
        path: The config file.
        name: App name.

    Returns:
        The new, validated config.

    Raises:
        UsageError: No app has that name.
    """
    data, _ = _load(path)
    apps = data.get("apps") or []
    idx = next(
        (i for i, a in enumerate(apps) if isinstance(a, dict) and a.get("name") == name), None
    )
    if idx is None:
        raise UsageError(f'{path}: no app named "{name}"')
    del apps[idx]
    text = _dump(data)
    cfg = parse_config(text, str(path))
    atomic_write_text(path, text)
    return cfg
