"""``homeport init``: write homeport.yaml, create the sealing key, seal the platform's secrets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from homeport import sealing, secretstore, yamlio
from homeport.cli import _common
from homeport.config import (
    SCHEMA_URL,
    HomeportConfig,
    KubernetesConfig,
    load_config,
    normalize_domain,
    parse_config,
)
from homeport.errors import ConfigError, HomeportError, UsageError
from homeport.platform import secrets as psec

CONFIG_FILE = "homeport.yaml"
# Which flag answers which config field, so a bad value names the flag the user typed.
_FLAGS = {"domain": "--domain", "email": "--email", "git.url": "--git-url"}
_PLACEHOLDER = {
    "domain": "example.com",
    "email": "admin@example.com",
    "git.url": "https://example.com/r.git",
}

_TEMPLATE = """\
# yaml-language-server: $schema={schema}
#
# homeport.yaml: your whole platform in one file (written by `homeport init`).
# Every field is documented in the schema above; editors with yaml-language-server
# complete and explain them. Secrets never go here: they are sealed into
# {path}/secrets/ (see `homeport secret set`).

# Your domain. Apps are served at <name>.{domain}; the platform at auth., argocd., ...
domain: {domain_v}

# Contact address for Let's Encrypt (certificate expiry notices) and the first
# Authentik administrator.
email: {email_v}

acme:
  # Start with staging: production has weekly rate limits per domain. Switch to
  # production once the staging certificate is issued.
  environment: staging

# Cloudflare keeps these records pointing at your address (DDNS) and answers the
# DNS-01 challenges. The API token is sealed, never written here.
cloudflare:
  records: ["@", "*"]
  proxied: false

# The Git repository Argo CD syncs from; `homeport render` writes the tree to `path`.
git:
  url: {git_url_v}
  revision: main
  path: {path}

kubernetes:
  version: "{k8s}"

# true runs every component highly available (needs 3 nodes).
ha: false

# Platform components. Each can be tuned; most can be switched off (enabled: false).
components:
  authentik:
    enabled: true  # single sign-on in front of your apps
  monitoring:
    enabled: true  # Prometheus, Grafana, alerts
  demo_apps:
    enabled: true  # whoami (public) and hello (behind SSO), to try the platform

# Your applications, for example:
#   - name: notes
#     image: ghcr.io/example/notes:1.2.3   # pinned tag, never latest
#     port: 8080
#     auth: sso                            # or public
apps: []
"""


def _scalar(value: str) -> str:
    """Return value as a YAML scalar: plain when it reads back unchanged, else quoted."""
    try:
        if "#" not in value and yamlio.load(value) == value:
            return value
    except Exception:  # not plain-safe YAML; quote it
        pass
    return json.dumps(value)


def render_config(domain: str, email: str, git_url: str, path: str = "cluster") -> str:
    """Return the commented homeport.yaml init writes.

    Args:
        domain: The domain.
        email: The contact e-mail.
        git_url: The Git repository URL.
        path: Directory of the tree inside the repository.

    Returns:
        The file's text, starting with the yaml-language-server modeline.
    """
    return _TEMPLATE.format(
        schema=SCHEMA_URL,
        domain=domain,
        domain_v=_scalar(domain),
        email_v=_scalar(email),
        git_url_v=_scalar(git_url),
        path=path,
        k8s=KubernetesConfig.model_fields["version"].default,
    )


def _problem_for(exc: ConfigError, field: str) -> str | None:
    for p in exc.problems:
        if p.field == field:
            return p.message
    return None


def check_answer(field: str, value: str) -> str | None:
    """Validate one answer the way the config loader will; return the problem or None."""
    answers = dict(_PLACEHOLDER)
    answers[field] = value
    try:
        parse_config(render_config(answers["domain"], answers["email"], answers["git.url"]))
    except ConfigError as exc:
        return _problem_for(exc, field) or exc.problems[0].message
    return None


def build_config(domain: str, email: str, git_url: str) -> tuple[str, HomeportConfig]:
    """Render and validate homeport.yaml from the answers.

    Returns:
        The text and the validated config.

    Raises:
        UsageError: An answer is invalid; the message names its flag.
    """
    try:
        domain = normalize_domain(domain)
    except ValueError as exc:
        raise UsageError(f"--domain: {exc}") from None
    text = render_config(domain, email.strip(), git_url.strip())
    try:
        cfg = parse_config(text, CONFIG_FILE)
    except ConfigError as exc:
        p = exc.problems[0]
        raise UsageError(f"{_FLAGS.get(p.field, p.field or CONFIG_FILE)}: {p.message}") from None
    return text, cfg


def read_token(source: str) -> str:
    """Read the Cloudflare API token from a file, or from stdin for ``-``.

    Raises:
        UsageError: Unreadable, empty, or more than one line (never shows the content).
    """
    flag = "--cloudflare-token-file"
    if source == "-":
        raw = sys.stdin.read()
    else:
        try:
            raw = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{flag}: {source}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{flag}: {source}: not a text file") from None
    token = raw.strip()
    if not token:
        raise UsageError(f"{flag}: {source}: is empty")
    if any(c.isspace() for c in token):
        raise UsageError(f"{flag}: {source}: the token must be a single word on one line")
    return token


def _ask(
    label: str, field: str, given: str | None, interactive: bool, default: str | None = None
) -> str:
    flag = _FLAGS[field]
    if given is not None:
        return given
    if not interactive:
        raise UsageError(f"{flag} is required with --non-interactive")
    while True:
        value = str(typer.prompt(label, default=default)).strip()
        problem = check_answer(field, value)
        if problem is None:
            return value
        _common.err_console.print(f"  {problem}", markup=False)


def _previous_answers(path: Path) -> dict[str, str]:
    """Answers in the homeport.yaml about to be replaced (empty when it does not load)."""
    try:
        cfg = load_config(path)
    except HomeportError:
        return {}
    return {"domain": cfg.domain, "email": cfg.email, "git.url": cfg.git.url}


def _ask_token() -> str:
    label = "Cloudflare API token (Zone:DNS:Edit and Zone:Zone:Read; input hidden)"
    while True:
        if sys.stdin.isatty():
            value = str(typer.prompt(label, hide_input=True))
        else:
            # No terminal: nothing is echoed, and getpass would warn or open /dev/tty.
            typer.echo(f"{label}: ", nl=False, err=True)
            line = sys.stdin.readline()
            if not line:
                raise UsageError("no Cloudflare API token given (end of input)")
            value = line
        value = value.strip()
        if value and not any(c.isspace() for c in value):
            return value
        _common.err_console.print("  the token must be a single word", markup=False)


def init_cmd(
    domain: Annotated[
        str | None, typer.Option("--domain", help="Your domain, e.g. example.com.")
    ] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="Let's Encrypt / admin e-mail.")
    ] = None,
    git_url: Annotated[
        str | None, typer.Option("--git-url", help="Repository Argo CD syncs from.")
    ] = None,
    cloudflare_token_file: Annotated[
        str | None,
        typer.Option(
            "--cloudflare-token-file",
            help="File holding the Cloudflare API token, or - to read it from stdin.",
        ),
    ] = None,
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", help="Never prompt; a missing flag is an error.")
    ] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where homeport.yaml and the tree are written.")
    ] = Path("."),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Overwrite homeport.yaml and rewrite existing platform secrets. Generated "
            "values (Authentik keys, database password) are KEPT, so a running database still "
            "matches; a new Cloudflare token replaces the old one.",
        ),
    ] = False,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="With --force: generate new platform passwords and keys too. Meant for before "
            "the first deployment: CNPG moves the database role to the new password, but "
            "Authentik reads it only when its pods start, its bootstrap password only on first "
            "start, and a new secret key signs everyone out.",
        ),
    ] = False,
) -> None:
    """Create homeport.yaml, the sealing key pair, and the platform's sealed secrets.

    Every prompt has a flag. Nothing is overwritten without --force; even then the
    platform's generated passwords are kept unless --rotate is given.
    """
    interactive = not non_interactive
    if rotate and not force:
        raise UsageError("--rotate needs --force")
    if cloudflare_token_file == "-" and interactive and None in (domain, email, git_url):
        raise UsageError(
            "--cloudflare-token-file -: stdin holds the token, so give --domain, --email and "
            "--git-url too (or --non-interactive)"
        )
    config_path = directory / CONFIG_FILE
    if config_path.exists() and not force:
        raise UsageError(f"{config_path} already exists; use --force to overwrite it")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--dir: {directory} is not a directory")

    # With --force, the file being replaced supplies the prompts' defaults.
    old = _previous_answers(config_path) if interactive and config_path.exists() else {}
    domain = _ask("Domain (e.g. example.com)", "domain", domain, interactive, old.get("domain"))
    email = _ask(
        "E-mail for Let's Encrypt and the admin account",
        "email",
        email,
        interactive,
        old.get("email"),
    )
    git_url = _ask(
        "Git repository URL Argo CD syncs from",
        "git.url",
        git_url,
        interactive,
        old.get("git.url"),
    )
    text, cfg = build_config(domain, email, git_url)
    tree = directory / cfg.git.path

    home = sealing.home_dir()
    for ps in psec.platform_secrets(cfg):
        path = secretstore.secret_path(tree, ps.namespace, ps.name)
        if not path.exists():
            continue
        if not force:
            raise UsageError(f"{path} already exists; use --force (keeps generated values)")
        if not rotate and not (home / sealing.KEY_FILE).exists():
            # Checked before a new key is created: a fresh key cannot open old secrets.
            raise UsageError(
                f"{path} was sealed with a key that is not in {home}; restore that key "
                "(sealing-key.pem, sealing-cert.pem) into $HOMEPORT_HOME, or use --rotate"
            )
    token: str | None = None
    if cloudflare_token_file is not None:
        token = read_token(cloudflare_token_file)
    elif secretstore.token_needed(tree, cfg):
        if not interactive:
            raise UsageError("--cloudflare-token-file is required with --non-interactive")
        token = _ask_token()

    repo_cert = directory / sealing.CERT_FILE
    home_cert = home / sealing.CERT_FILE
    if (
        repo_cert.exists()
        and not force
        and (not home_cert.exists() or home_cert.read_bytes() != repo_cert.read_bytes())
    ):
        raise UsageError(
            f"{repo_cert} belongs to a key pair that is not in {home}; restore that pair "
            f"({sealing.KEY_FILE}, {sealing.CERT_FILE}) into $HOMEPORT_HOME, or use --force"
        )

    pair, created = sealing.ensure_keypair(home)
    planned = secretstore.plan_platform_secrets(
        tree, cfg, pair.certificate(), pair.private_key(), token, force=force, rotate=rotate
    )
    secretstore.write_planned(tree, planned)
    secretstore.atomic_write_text(repo_cert, pair.cert_path.read_text(encoding="ascii"))
    secretstore.atomic_write_text(config_path, text)

    out = _common.out_console
    out.print(f"wrote {config_path}", markup=False)
    for p in planned:
        out.print(f"{p.status:<8} {p.path}", markup=False)
    out.print(
        f"wrote {repo_cert} (public: lets anyone seal secrets for this cluster)", markup=False
    )
    state = "created" if created else "using"
    out.print(f"{state} sealing key {pair.key_path} (mode 0600)", markup=False)
    if created:
        out.print(
            "BACK UP THIS KEY NOW, outside this repository (password manager, offline copy). "
            "Without it no sealed secret can be opened again, and a restore is impossible.",
            markup=False,
        )
    else:
        out.print("keep your backup of it current; it opens every sealed secret", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``init`` to the CLI."""
    app.command("init")(init_cmd)
