from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from homeport.ddns.cloudflare import RetryPolicy
from homeport.ddns.controller import Controller
from homeport.ddns.options import DdnsOptions, parse_provider, record_fqdn

from .emulator import CloudflareEmulator, IPServer

ZONE = "example.com"
OWNER = "managed-by: homeport"
IP_OLD = "81.2.69.160"
IP_NEW = "81.2.69.161"
IP6_OLD = "2a01:4f8:c0c:1234::1"
IP6_NEW = "2a01:4f8:c0c:1234::2"


@pytest.fixture
def cf() -> Iterator[CloudflareEmulator]:
    emu = CloudflareEmulator(ZONE).start()
    yield emu
    emu.stop()


@pytest.fixture
def ip_server() -> Iterator[Callable[..., IPServer]]:
    started: list[IPServer] = []

    def make(answer: str, host: str = "127.0.0.1", html: bool = False) -> IPServer:
        s = IPServer(answer, host=host, html=html).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def trace(s: IPServer) -> str:
    return f"cloudflare.trace:{s.base}/cdn-cgi/trace"


def doh(s: IPServer) -> str:
    return f"cloudflare.doh:{s.base}/dns-query"


def plain(s: IPServer) -> str:
    return f"url:{s.base}/"


class Harness:
    """A controller wired to the emulator, recording the sleeps it takes."""

    def __init__(
        self,
        cf: CloudflareEmulator,
        providers: list[str],
        *,
        records: tuple[str, ...] = ("@", "*"),
        families: tuple[str, ...] = ("ipv4",),
        token: str = "good-token",
        attempts: int = 4,
        timeout: float = 2.0,
        interval: int = 300,
        clock: Callable[[], float] = time.time,
        **extra: Any,
    ) -> None:
        self.sleeps: list[float] = []
        opts = DdnsOptions(
            **extra,
            zone=ZONE,
            records=tuple(record_fqdn(r, ZONE) for r in records),
            families=families,  # type: ignore[arg-type]
            providers=tuple(parse_provider(p) for p in providers),
            api_url=cf.url,
            timeout=timeout,
            interval=interval,
            listen=("127.0.0.1", 0),
        )
        self.controller = Controller(
            opts,
            token,
            retry=RetryPolicy(attempts=attempts, backoff=0.01),
            sleep=self._sleep,
            clock=clock,
        )

    def _sleep(self, seconds: float) -> None:
        # Recorded, barely waited: the emulator's faults are counted, not timed.
        self.sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    def close(self) -> None:
        self.controller.close()


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(*args: object, **kw: object) -> Harness:
        h = Harness(*args, **kw)  # type: ignore[arg-type]
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
