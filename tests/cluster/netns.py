"""A network namespace for tests whose API server may dial Service addresses.

Once a chart's admission webhook configurations are stored, the API server calls each
webhook at its Service address. Inside a namespace made here (``ip netns add``, loopback
up, nothing else) such a call can reach nothing outside it. The calling thread enters the
namespace with ``setns(2)`` (processes it starts inherit it, sockets it opens live in it)
and returns to its own namespace on exit; the namespace is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import uuid
from collections.abc import Iterator

_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def network_namespace() -> Iterator[str]:
    """Run the block (and every process it starts) in a fresh network namespace.

    Yields:
        The namespace's name (``ip netns``).
    """
    name = f"homeport-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        new = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(new)
        finally:
            os.close(new)
        try:
            yield name
        finally:
            _setns(own)
    finally:
        os.close(own)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def interfaces() -> list[str]:
    """Network interfaces a process started now sees (that of the calling thread)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return sorted(line.split(":")[1].strip() for line in out.stdout.splitlines() if ":" in line)
