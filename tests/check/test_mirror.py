"""``homeport check`` of a tree whose charts and Argo CD come from mirrors (``mirror:``).

Real: the rendered air-gapped example, its sealed mirror logins (throwaway key), the
pinned CRDs (the SealedSecret schema validates their plain ``spec.template.data``) and
the Kubernetes OpenAPI schemas; HP-P013 evaluates the rendered NetworkPolicies of the
argocd namespace against the mirrors' hosts.
"""

from __future__ import annotations

from pathlib import Path

from homeport.check import check_tree
from homeport.config import load_config, parse_config
from homeport.gitops import RenderedTree, render_tree

from .conftest import ROOT, download_kubernetes
from .trees import seal_required

EXAMPLE = ROOT / "examples" / "air-gapped.yaml"


def _write(tree: RenderedTree, root: Path) -> Path:
    for rel, text in tree.files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_check_of_a_mirrored_tree(tmp_path: Path) -> None:
    """The mirrored example checks clean; a LAN mirror the policies block is HP-P013."""
    cfg = load_config(EXAMPLE)
    download_kubernetes(cfg.kubernetes.version)
    root = _write(render_tree(cfg), tmp_path / "ok")
    seal_required(cfg, root)
    report = check_tree(root, kubernetes_version=cfg.kubernetes.version)
    assert [(f.file, f.rule_id, f.message) for f in report.findings] == []
    # The sealed logins are in the tree and schema-checked like every SealedSecret.
    assert (root / "secrets" / "argocd" / "mirror-charts.yaml").is_file()
    # On ports the argocd namespace does not reach anywhere (443 it does: the API server
    # allow names no peer), the mirrors need network.lan; without it HP-P013 fires.
    text = EXAMPLE.read_text().replace("registry.home.internal", "registry.home.internal:5000")
    text = text.replace("git.home.internal/mirror", "git.home.internal:3000/mirror")
    for lan, want in (
        ("192.168.10.0/24", []),
        (
            "",
            [
                ("apps/argocd-config.yaml", '"git.home.internal" port 22 (15 Applications use it)'),
                ("apps/argocd.yaml", '"git.home.internal" port 3000'),
                # Every chart Application uses the mirror: the finding is on the first one.
                (
                    "apps/authentik.yaml",
                    '"registry.home.internal" port 5000 (7 Applications use it)',
                ),
            ],
        ),
    ):
        cfg = parse_config(text.replace('["192.168.10.0/24"]', f"[{lan}]"))
        root = _write(render_tree(cfg), tmp_path / (lan.replace("/", "_") or "none"))
        seal_required(cfg, root)
        report = check_tree(root, kubernetes_version=cfg.kubernetes.version)
        found = [
            (f.file, f.message.split("reach ")[1].split(":")[0])
            for f in report.findings
            if f.rule_id == "HP-P013"
        ]
        assert found == want
        assert len(report.findings) == len(want)
