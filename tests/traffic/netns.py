"""A private network namespace for the traffic-flow test (``unshare -n``).

The API server refuses loopback addresses in EndpointSlices, so the backends listen on a
test address (198.51.100.20, TEST-NET-2) added to the loopback device of a namespace this
module creates. Everything that sends or serves traffic in the test (kube-apiserver, etcd,
Traefik, whoami, the outpost stand-in, the probes) runs inside it; nothing leaves it.

The test process joins the namespace with ``setns(2)`` on its main thread only for the
duration of :meth:`NetNS.inside` (sockets and child processes created there belong to it),
so other tests in the same process keep the host's network.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
# Where Traefik listens (a LoadBalancer's address in a cluster) and where the backends
# ("pods") listen; TEST-NET-2, used only inside the namespace.
TEST_ADDRESS = "198.51.100.10"
POD_ADDRESS = "198.51.100.20"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class NetNS:
    """A network namespace kept alive by a sleeping ``unshare -n`` process.

    Attributes:
        address: Traefik's address on the namespace's loopback device.
        pod_address: The backends' address on it.
    """

    def __init__(self, address: str = TEST_ADDRESS, pod_address: str = POD_ADDRESS) -> None:
        self.address = address
        self.pod_address = pod_address
        if shutil.which("unshare") is None:
            raise RuntimeError("unshare (util-linux) is required for the traffic test")
        self._holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "echo ready; exec sleep infinity"],
            stdout=subprocess.PIPE,
        )
        assert self._holder.stdout is not None
        # "ready" is printed once the holder runs in its new namespace.
        if self._holder.stdout.readline().strip() != b"ready":
            raise RuntimeError("unshare -n failed (the traffic test needs root)")
        self._fd = os.open(f"/proc/{self._holder.pid}/ns/net", os.O_RDONLY)
        self._host_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        with self.inside():
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            for a in (address, pod_address):
                subprocess.run(["ip", "addr", "add", f"{a}/32", "dev", "lo"], check=True)

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Run the block (and every process it starts) inside the namespace."""
        _setns(self._fd)
        try:
            yield
        finally:
            _setns(self._host_fd)

    def close(self) -> None:
        """End the holder process; the namespace goes when its last process does."""
        self._holder.kill()
        self._holder.wait(timeout=10)
        os.close(self._fd)
        os.close(self._host_fd)
