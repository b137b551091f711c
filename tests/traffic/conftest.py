"""The traffic-flow fixture: one platform (API server, Traefik, backends) per test session."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import pytest

from homeport.cli import main

from .platform import Flow, build


@pytest.fixture(scope="session")
def flow() -> Iterator[Flow]:
    """The example platform's request path, with Traefik started and serving every route."""
    f = build()
    try:
        f.start_traefik()
        f.wait_traefik(routers=len(f.routes))
        yield f
    finally:
        f.close()


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """Run the real entry point in-process; returns ``(exit code, stdout + stderr)``."""

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["homeport", *args])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out + err

    return run
