"""What kube-proxy does for a simulated cluster, in userspace, inside its network namespace.

KWOK's pods run nowhere, so there is nothing for kube-proxy's iptables rules to send a
packet to. What a test needs is narrower: a program that runs on loopback (a webhook, the
API server itself) must answer at its Service's ClusterIP, because the API server and
in-cluster clients dial ClusterIPs. So the whole Service and pod ranges are made local to
the namespace (``ip route add local <cidr> dev lo``: any address in them can be bound and
dialled, the kernel's "AnyIP"), and a :class:`Forwarder` thread listens at ClusterIP:port
and copies each TCP connection to ``127.0.0.1:<local port>`` (kube-proxy's old userspace
mode did the same).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import subprocess
import threading
from pathlib import Path


def _netns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:  # PID 1 may be unreadable (a container whose init is not dumpable)
        return None


def in_test_netns() -> bool:
    """Whether the calling thread is in a network namespace made for a test.

    That is a named namespace (``ip netns add``, as ``network_namespace()`` makes; it is
    bound under ``/run/netns``) and not PID 1's, the host's.
    """
    mine = os.stat("/proc/thread-self/ns/net").st_ino
    if mine == _netns_inode("/proc/1/ns/net"):
        return False
    named = Path("/run/netns")
    return named.is_dir() and any(_netns_inode(str(p)) == mine for p in named.iterdir())


def make_local(cidr: str) -> None:
    """Route a whole range to loopback as local addresses (in the caller's namespace)."""
    ipaddress.ip_network(cidr)  # a clear error for a typo, before `ip` sees it
    subprocess.run(["ip", "route", "replace", "local", cidr, "dev", "lo"], check=True)


def add_address(ip: str) -> None:
    """Give loopback one more address (a node's InternalIP)."""
    subprocess.run(["ip", "addr", "replace", f"{ip}/32", "dev", "lo"], check=True)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class Forwarder:
    """A TCP forwarder from ``address:port`` to ``127.0.0.1:target_port`` (a thread).

    The listening socket is opened in the network namespace of the thread that creates
    the forwarder, so create it inside the test's namespace.
    """

    def __init__(self, address: str, port: int, target_port: int) -> None:
        self.address = address
        self.port = port
        self.target_port = target_port
        self._sock = socket.create_server((address, port), reuse_port=False)
        self._sock.settimeout(0.5)
        self.accepted = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._serve, name=f"forward-{address}:{port}", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()  # like a Service without ready endpoints: the caller sees a reset
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        with self._lock:
            for s in (client, upstream):
                if s in self._conns:
                    self._conns.remove(s)
                s.close()

    def close(self) -> None:
        """Stop listening and cut every open connection."""
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=5)
        with self._lock:
            for s in self._conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._conns.clear()
