"""Sentences of the docs that the code must make true (issue 15, item 12).

Real: the renderer and the rendered objects. Each test pairs a claim of README.md or
docs/ (or a docstring) with the code fact it describes, so the two cannot drift apart.
The backup ServiceAccount's permissions are checked by the real API server in
tests/cluster/test_automation.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from configs import base_yaml
from homeport import yamlio
from homeport.config import parse_config
from homeport.gitops import render_tree
from homeport.platform import monitoring
from homeport.versions import ARGOCD_REPO

ROOT = Path(__file__).resolve().parents[1]
BASE = base_yaml(email="ops@example.com", git_url="https://github.com/example/lab.git")


def _sentence(text: str, needle: str) -> str:
    flat = re.sub(r"\s+", " ", text)
    for s in re.split(r"(?<=\.)\s", flat):
        if needle in s:
            return s
    raise AssertionError(f"no sentence with {needle!r}")


def test_readme_says_how_each_component_is_installed() -> None:
    tree = render_tree(parse_config(BASE))
    without_chart = [
        c for c in tree.components if c.chart is None and c.source and "repoURL" in c.source
    ]
    assert [c.name for c in without_chart] == ["argocd"]
    assert without_chart[0].source is not None
    assert without_chart[0].source["repoURL"] == ARGOCD_REPO
    assert without_chart[0].source["path"] == "manifests/cluster-install"
    claim = _sentence((ROOT / "README.md").read_text(), "official Helm chart")
    # The claim names the one exception and where it comes from.
    assert "Argo CD" in claim and "install.yaml" in claim, claim


def test_smtp_login_is_the_alert_email_and_only_the_password_is_sealed() -> None:
    cfg = parse_config(
        BASE + "components: {monitoring: {alerts: {email: alerts@example.com,"
        " smtp_host: 'smtp.example.com:587'}}}\n"
    )
    receivers = monitoring.alertmanager_config(cfg)["receivers"]
    email = next(r for r in receivers if r["name"] == "homeport")["email_configs"][0]
    assert email["auth_username"] == "alerts@example.com"
    secret_files = {v for k, v in email.items() if k.endswith("_file")}
    assert secret_files == {"/etc/alertmanager/secrets/alertmanager-smtp/password"}
    doc = (ROOT / "docs" / "monitoring.md").read_text()
    assert "the SMTP login" in _sentence(doc, "`email` is the recipient")
    # The docstring says the same (it once claimed a username file).
    assert "login (username) is ``alerts.email``" in (monitoring.alertmanager_config.__doc__ or "")
    assert not hasattr(monitoring, "SMTP_USERNAME_KEY")


def test_database_password_follows_the_secret_as_the_docs_say() -> None:
    tree = render_tree(parse_config(BASE))
    cluster = next(o for _, o in tree.objects() if o["kind"] == "Cluster")
    secret = cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"]
    roles = cluster["spec"]["managed"]["roles"]
    assert [r["passwordSecret"]["name"] for r in roles] == [secret]
    sso = re.sub(r"\s+", " ", (ROOT / "docs" / "sso.md").read_text())
    assert "takes the Secret's password" in sso and "--rotate" in sso
    # `init --rotate` no longer claims the opposite of what CNPG does.
    from homeport.cli import init as init_cli

    src = Path(init_cli.__file__).read_text()
    assert "no longer matches an existing database" not in src
    assert "CNPG moves the database role to the new password" in src
    assert yamlio.dump(roles)  # the roles render
