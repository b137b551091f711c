"""Validation of names and values shared by the config and the DDNS controller.

Free of pydantic so the in-cluster DDNS process stays small.
"""

from __future__ import annotations

import re

import idna

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def normalize_domain(value: str) -> str:
    """Normalise a DNS name: lower-case, no trailing dot, IDN as punycode.

    Args:
        value: The name as the user wrote it.

    Returns:
        The ASCII (punycode) form of the name.

    Raises:
        ValueError: The name is not a valid fully-qualified domain name.
    """
    if not isinstance(value, str):
        raise ValueError("must be a domain name such as example.com")
    name = value.strip().rstrip(".").lower()
    if not name or " " in name:
        raise ValueError(f'"{value}" is not a valid domain name')
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii") if not name.isascii() else name
    except idna.IDNAError as exc:
        raise ValueError(f'"{value}" is not a valid domain name ({exc})') from None
    if len(ascii_name) > 253:
        raise ValueError(f"domain is {len(ascii_name)} characters long; the maximum is 253")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValueError(f'"{value}" is not fully qualified; write it like example.com')
    for label in labels:
        if not LABEL.match(label):
            raise ValueError(
                f'"{value}" is not a valid domain name: label "{label}" must be 1-63 letters, '
                "digits or hyphens, not starting or ending with a hyphen"
            )
    if labels[-1].isdigit():
        raise ValueError(f'"{value}" is not a valid domain name: the top-level label is numeric')
    return ascii_name


def parse_duration(value: str) -> int:
    """Parse a duration like ``5m``, ``1h30m`` or ``90s`` into seconds.

    Args:
        value: The duration text.

    Returns:
        The duration in seconds (always > 0).

    Raises:
        ValueError: The text is not a positive duration.
    """
    m = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if not m or not any(m.groups()):
        raise ValueError(f'"{value}" is not a duration; write it like 30s, 5m or 1h')
    h, mi, s = (int(g or 0) for g in m.groups())
    total = h * 3600 + mi * 60 + s
    if total <= 0:
        raise ValueError("duration must be positive")
    return total


def check_image(image: str) -> str:
    """Require a pinned container image reference (a tag other than latest, or a digest).

    Args:
        image: The image reference.

    Returns:
        The reference, unchanged.

    Raises:
        ValueError: The image has no tag, or its tag is ``latest``.
    """
    if not image or any(c.isspace() for c in image):
        raise ValueError(f'"{image}" is not an image reference')
    if "@sha256:" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError(f'image "{image}" has no tag; pin a version')
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        raise ValueError('tag "latest" is not allowed; pin a version')
    if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", tag):
        raise ValueError(f'image tag "{tag}" is not valid')
    return image
