"""The release and CI workflows, the Dockerfile, and the image the platform runs.

Real parts: actionlint built from its Go module at the pin in versions.py
(scripts/build-tools.sh, into $HOMEPORT_TOOLS/bin) lints every workflow; a missing binary
fails the test. actionlint runs shellcheck on `run:` scripts only when shellcheck is on PATH
(it is not on this machine). The image itself is not built here (no container engine): the
Dockerfile and the workflow are checked for what the release promises, and the rendered
tree for the image it runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from homeport import __version__, yamlio
from homeport.config import parse_config
from homeport.gitops import render_tree
from homeport.versions import ACTIONLINT_VERSION, HOMEPORT_IMAGE, HOMEPORT_IMAGE_REPO

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> Path:
    base = os.environ.get("HOMEPORT_TOOLS") or str(Path.home() / ".cache" / "homeport-tools")
    path = Path(base) / "bin" / "actionlint"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run scripts/build-tools.sh (builds actionlint)")
    return path


def lint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(actionlint()), "-no-color", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_is_the_pinned_build() -> None:
    out = subprocess.run(
        [str(actionlint()), "-version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[0] == ACTIONLINT_VERSION


def test_every_workflow_passes_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"release.yml", "ci.yml"}
    r = lint(*files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "needs: dist\n    runs-on",
            "needs: build\n    runs-on",
            'needs job "build" which does not exist',
        ),
        ("${{ github.ref_name }}", "${{ github.ref_nam }}", "ref_nam"),
        ("runs-on: ubuntu-24.04\n    outputs", "outputs", '"runs-on" section is missing'),
        ("uses: actions/checkout@v4", "uses: actions/checkout", "ref is missing"),
    ],
)
def test_a_broken_workflow_fails_actionlint(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    """Negative controls: the same release workflow with one mistake each."""
    text = (WORKFLOWS / "release.yml").read_text()
    assert old in text
    d = tmp_path / ".github" / "workflows"
    d.mkdir(parents=True)
    broken = d / "release.yml"
    broken.write_text(text.replace(old, new, 1))
    r = lint(broken, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert expected in r.stdout


def _workflow(name: str) -> dict[str, Any]:
    return dict(yamlio.load((WORKFLOWS / name).read_text()))


def test_release_workflow_publishes_wheel_sdist_and_a_multi_arch_image() -> None:
    wf = _workflow("release.yml")
    # PyYAML reads the key `on` as True.
    trigger = wf.get("on", wf.get(True))
    assert list(trigger) == ["push"] and list(trigger["push"]) == ["tags"]
    assert all(t.startswith("v") for t in trigger["push"]["tags"])
    jobs = wf["jobs"]
    assert wf["permissions"] == {"contents": "read"}  # least privilege by default

    dist_run = "\n".join(s.get("run", "") for s in jobs["dist"]["steps"])
    assert "python -m build" in dist_run and "--wheel" not in dist_run  # wheel AND sdist
    assert "GITHUB_REF_NAME" not in dist_run and "$TAG" in dist_run  # tag must match version

    pypi = jobs["pypi"]
    assert pypi["permissions"] == {"id-token": "write"}  # trusted publishing, no token
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish") for s in pypi["steps"])
    assert not any("password" in (s.get("with") or {}) for s in pypi["steps"])

    image = jobs["image"]
    assert image["needs"] == "dist" and pypi["needs"] == "dist"  # one dist/ for both
    assert image["env"]["IMAGE"] == HOMEPORT_IMAGE_REPO
    steps = {s.get("uses", "").split("@")[0]: s for s in image["steps"]}
    assert "actions/download-artifact" in steps  # the image installs the released wheel
    build = steps["docker/build-push-action"]["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["sbom"] is True and str(build["provenance"]).startswith("mode=max")
    assert build["tags"] == "${{ env.IMAGE }}:${{ needs.dist.outputs.version }}"
    assert "docker/setup-qemu-action" in steps  # arm64 on an amd64 runner


def _dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return [ln for ln in text.replace("\\\n", " ").splitlines() if ln and not ln.startswith("#")]


def test_dockerfile_installs_the_wheel_runs_as_non_root_and_runs_ddns() -> None:
    lines = _dockerfile()
    froms = [ln.split()[1] for ln in lines if ln.startswith("FROM ")]
    assert froms and all(re.fullmatch(r"[\w./-]+:[\w.-]+", f) and ":latest" not in f for f in froms)
    body = "\n".join(lines)
    assert "COPY dist/ /dist/" in body
    assert 'pip install --no-compile "$1"' in body and "/dist/homeport-*-py3-none-any.whl" in body
    assert "COPY src" not in body and "pip install ." not in body  # never the source tree
    user = [ln for ln in lines if ln.startswith("USER ")][-1].split()[1]
    uid = int(user.split(":")[0])
    assert uid != 0
    assert lines[-1] == 'ENTRYPOINT ["homeport", "ddns", "run"]'
    assert (ROOT / ".dockerignore").read_text().splitlines()[-2:] == ["*", "!dist/*.whl"]


def test_default_image_is_this_version_and_the_rendered_workloads_run_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    assert f"{HOMEPORT_IMAGE_REPO}:{__version__}" == HOMEPORT_IMAGE
    cfg = parse_config(
        "domain: example.com\nemail: a@example.com\ngit:\n  url: https://e.com/r.git\n"
        "backup:\n  platform:\n    recipients:\n"
        "      - age1d7rrhmlpdcu3fpv7eh9d7tsptqfz8l4575gljnln68c5dh43ashq9ldafn\n"
    )
    assert cfg.components.ddns.image == HOMEPORT_IMAGE
    containers = []
    for path, text in render_tree(cfg).files.items():
        if not path.endswith(".yaml"):
            continue
        for obj in yamlio.load_all(text):
            if not isinstance(obj, dict):
                continue
            spec = obj.get("spec") or {}
            pod = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
            for c in (pod.get("spec") or {}).get("containers") or []:
                if c["image"].startswith(HOMEPORT_IMAGE_REPO):
                    containers.append((path, obj["kind"], c))
    kinds = sorted(k for _, k, _ in containers)
    assert kinds == ["CronJob", "Deployment"], containers
    for _, _, c in containers:
        assert c["image"] == HOMEPORT_IMAGE
        # Each names its program, so neither depends on the image's entry point.
        assert c["command"] == ["homeport"]
    # An explicit image wins (and is what a user pins to a digest).
    other = parse_config(
        "domain: example.com\nemail: a@example.com\ngit:\n  url: https://e.com/r.git\n"
        "components:\n  ddns:\n    image: registry.example.com/homeport@sha256:" + "a" * 64 + "\n"
    )
    assert other.components.ddns.image.endswith("a" * 64)
