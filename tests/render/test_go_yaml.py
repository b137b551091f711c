"""Every rendered tree reads the same in Go as in Python.

Real: sigs.k8s.io/yaml over go.yaml.in/yaml/v2 (tools/goyaml), the decoder Kubernetes,
Argo CD and Helm use, decodes every YAML file homeport renders; PyYAML reads the same files.
Nothing is faked. The negative control proves the oracle tells a string from a number.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goyaml import GoYaml, same_json
from homeport import yamlio
from homeport.config import load_config, parse_config
from homeport.errors import ConfigError
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


numberish = st.from_regex(
    r"[-+]?[0-9._]{0,4}(0[xXoObB])?[0-9a-fA-F_.]{0,4}([eE][-+]?[0-9]{0,3})?", fullmatch=True
)
free_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    revision=st.one_of(
        numberish.filter(lambda s: s.strip() != ""), st.sampled_from(["main", "v1.2.3", "1e3"])
    ),
    env=st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True),
        st.one_of(numberish, free_text),
        max_size=4,
    ),
    args=st.lists(st.one_of(numberish, free_text), max_size=3),
)
def test_generated_configs_render_trees_go_reads_the_same(
    goyaml: GoYaml, revision: str, env: dict[str, str], args: list[str]
) -> None:
    """Real: Go's decoder on trees rendered from generated user strings (Hypothesis)."""
    try:
        cfg = parse_config(
            yamlio.dump(
                {
                    "domain": "home.example.org",
                    "email": "me@example.org",
                    "git": {"url": "https://git.example.org/lab.git", "revision": revision},
                    "apps": [
                        {
                            "name": "web",
                            "image": "traefik/whoami:v1.11.0",
                            "port": 80,
                            "env": env,
                            "args": args,
                        }
                    ],
                }
            )
        )
    except ConfigError:
        return  # the config refuses it: nothing is rendered
    assert_tree_reads_the_same(render_tree(cfg), goyaml)
