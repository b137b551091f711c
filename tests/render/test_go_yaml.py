"""Every rendered tree reads the same in Go as in Python.

Real: sigs.k8s.io/yaml over go.yaml.in/yaml/v2 (tools/goyaml), the decoder Kubernetes,
Argo CD and Helm use, decodes every YAML file homeport renders; PyYAML reads the same files.
Nothing is faked. The negative control proves the oracle tells a string from a number.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from goyaml import GoYaml, same_json
from homeport import yamlio
from homeport.config import load_config, parse_config
from homeport.gitops import RenderedTree, render_tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def assert_tree_reads_the_same(tree: RenderedTree, goyaml: GoYaml) -> int:
    checked = 0
    for path, text in tree.files.items():
        if not path.endswith((".yaml", ".yml")):
            continue
        python_docs = list(yamlio.load_all(text))
        go_docs = goyaml.decode(text)
        assert same_json(go_docs, python_docs), path
        checked += 1
    return checked


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_trees_decode_the_same_in_go(example: Path, goyaml: GoYaml) -> None:
    assert assert_tree_reads_the_same(render_tree(load_config(example)), goyaml) > 5


def test_numberish_revision_and_env_stay_strings(goyaml: GoYaml) -> None:
    """A git.revision of 1234e56 and env values 1e6 / 0o17 reach Go as strings."""
    cfg = parse_config(
        yamlio.dump(
            {
                "domain": "home.example.org",
                "email": "me@example.org",
                "git": {"url": "https://git.example.org/lab.git", "revision": "1234e56"},
                "apps": [
                    {
                        "name": "web",
                        "image": "traefik/whoami:v1.11.0",
                        "port": 80,
                        "env": {"LIMIT": "1e6", "MODE": "0o17", "PAD": "08"},
                    }
                ],
            }
        )
    )
    tree = render_tree(cfg)
    assert_tree_reads_the_same(tree, goyaml)
    texts = "".join(tree.files.values())
    assert "1234e56" in texts and "1e6" in texts
    # Negative control: written plain, Go decodes these as numbers.
    [control] = goyaml.decode("revision: 1234e56\nvalue: 1e6\n")
    assert control == {"revision": 1.234e59, "value": 1000000}
