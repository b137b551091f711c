"""The traffic-flow fixture: one platform (API server, Traefik, backends) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# The in-process CLI runner the cluster tests use (`cli`), shared rather than copied.
from cluster.conftest import cli

from .platform import Flow, build

__all__ = ["cli", "flow"]


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
