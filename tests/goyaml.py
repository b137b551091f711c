"""Go's YAML reading as an oracle: the real sigs.k8s.io/yaml decoder in one long-lived process.

Kubernetes, Argo CD and Helm decode manifests with sigs.k8s.io/yaml over go.yaml.in/yaml/v2,
whose YAML 1.1 resolver differs from PyYAML's (``1e3``, ``0o17``, ``08``, ``y`` are not strings
there). ``tools/goyaml`` is that decoder; ``scripts/build-tools.sh`` builds it into
``$HOMEPORT_TOOLS/bin``. A missing binary fails the test that needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from homeport.versions import SIGS_YAML_VERSION


def goyaml_bin() -> Path:
    """Path of the goyaml binary for the pinned sigs.k8s.io/yaml; fails the test if missing."""
    tools = Path(os.environ.get("HOMEPORT_TOOLS", "~/.cache/homeport-tools")).expanduser()
    exe = tools / "bin" / "goyaml"
    stamp = tools / "bin" / ".goyaml.version"
    if not os.access(exe, os.X_OK) or not stamp.is_file():
        pytest.fail(f"{exe} is missing: run scripts/build-tools.sh (it builds goyaml)")
    if stamp.read_text().strip() != SIGS_YAML_VERSION:
        pytest.fail(
            f"{exe} is not sigs.k8s.io/yaml {SIGS_YAML_VERSION}: run scripts/build-tools.sh"
        )
    return exe


class GoYaml:
    """A running goyaml process: send a YAML stream, get back the documents Go decodes."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [str(goyaml_bin())], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def decode(self, text: str) -> list[Any]:
        """Decode a YAML stream as Go does.

        Args:
            text: One or more YAML documents.

        Returns:
            The non-empty documents, as the JSON values Go produced.

        Raises:
            ValueError: Go cannot decode the text (the message is Go's).
        """
        assert self._proc.stdin is not None and self._proc.stdout is not None
        body = text.encode()
        self._proc.stdin.write(b"%d\n" % len(body) + body)
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"goyaml exited with {self._proc.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise ValueError(reply["error"])
        docs: list[Any] = reply["docs"]
        return docs

    def close(self) -> None:
        """Stop the process."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (JSON has one number type), nothing else mixes.

    Python's ``True == 1`` would blur exactly what the oracle is for,
    so booleans, strings and null only equal their own kind.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        # Go writes a float64 in its shortest decimal form ("24639743231500810"), which
        # Python reads as an int; equal means the same float64 then.
        return a == b if type(a) is type(b) else float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
