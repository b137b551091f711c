"""One way for every test to make a homeport config: a minimal base plus YAML.

``config("components:\n  authentik:\n    enabled: false\n")`` parses the base with the
extra top-level YAML; ``base_yaml(domain=..., git_url=...)`` is the base text alone, for
tests that write a homeport.yaml or edit the text first.
"""

from __future__ import annotations

from homeport.config import HomeportConfig, parse_config

DOMAIN = "example.com"
EMAIL = "admin@example.com"
GIT_URL = "https://github.com/example/homelab.git"

# Authentik off, and nothing left asking for sso.
NO_SSO = """\
components:
  authentik:
    enabled: false
  argocd:
    auth: public
  monitoring:
    auth: public
"""


def base_yaml(
    *,
    domain: str = DOMAIN,
    email: str = EMAIL,
    git_url: str = GIT_URL,
    git_path: str | None = None,
) -> str:
    """The smallest valid homeport.yaml: domain, e-mail and Git repository."""
    text = f"domain: {domain}\nemail: {email}\ngit:\n  url: {git_url}\n"
    return text + (f"  path: {git_path}\n" if git_path else "")


BASE = base_yaml()


def config(extra: str = "", *, file: str = "test.yaml", **base: str) -> HomeportConfig:
    """Parse the base (with ``base`` overrides, see :func:`base_yaml`) plus extra YAML."""
    return parse_config(base_yaml(**base) + extra, file)
