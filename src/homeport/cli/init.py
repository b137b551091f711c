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
from homeport.fsutil import tree_lock
from homeport.platform import secrets as psec

CONFIG_FILE = "homeport.yaml"
# Which flag answers which config field, so a bad value names the flag the user typed.
_FLAGS = {
    "domain": "--domain",
    "email": "--email",
    "git.url": "--git-url",
    "git.path": "--git-path",
}
DEFAULT_GIT_PATH = "cluster"
# The flag answering each secret value only the user knows, by (secret name, key).
_SECRET_FLAGS = {
    (psec.BACKUP_S3_NAME, psec.BACKUP_S3_ACCESS_KEY): "--s3-access-key-id-file",
    (psec.BACKUP_S3_NAME, psec.BACKUP_S3_SECRET_KEY): "--s3-secret-key-file",
    (psec.ALERTMANAGER_SMTP.name, psec.ALERTMANAGER_SMTP.keys[0]): "--smtp-password-file",
}
_SECRET_LABELS = {
    (psec.BACKUP_S3_NAME, psec.BACKUP_S3_ACCESS_KEY): "S3 access key ID (backup.s3)",
    (psec.BACKUP_S3_NAME, psec.BACKUP_S3_SECRET_KEY): "S3 secret access key (backup.s3)",
    (psec.ALERTMANAGER_SMTP.name, psec.ALERTMANAGER_SMTP.keys[0]): (
        "SMTP password for e-mail alerts (monitoring.alerts)"
    ),
}
# Which config setting makes each flag's secret needed (for "not needed" errors).
_SECRET_FEATURE = {
    "--s3-access-key-id-file": "backup.s3 (with components.authentik enabled)",
    "--s3-secret-key-file": "backup.s3 (with components.authentik enabled)",
    "--smtp-password-file": "components.monitoring.alerts.email",
}
APP_SECRET_FLAG = "--app-secret-file"
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
  path: {path_v}

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


def render_config(domain: str, email: str, git_url: str, path: str = DEFAULT_GIT_PATH) -> str:
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
        path_v=_scalar(path),
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


def build_config(
    domain: str, email: str, git_url: str, git_path: str = DEFAULT_GIT_PATH
) -> tuple[str, HomeportConfig]:
    """Render and validate homeport.yaml from the answers.

    Args:
        domain: The domain.
        email: The contact e-mail.
        git_url: The Git repository URL.
        git_path: Directory of the tree inside the repository (``git.path``).

    Returns:
        The text and the validated config.

    Raises:
        UsageError: An answer is invalid; the message names its flag.
    """
    try:
        domain = normalize_domain(domain)
    except ValueError as exc:
        raise UsageError(f"--domain: {exc}") from None
    text = render_config(domain, email.strip(), git_url.strip(), git_path.strip())
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
    return read_secret("--cloudflare-token-file", source, single_word=True)


def read_secret(flag: str, source: str, *, single_word: bool) -> str:
    """Read one secret value from a file, or from stdin for ``-``.

    Args:
        flag: The flag that named the file (for messages).
        source: The file, or ``-``.
        single_word: Refuse whitespace inside (tokens, key IDs); passwords may hold spaces.

    Returns:
        The value without its trailing newline.

    Raises:
        UsageError: Unreadable, empty, or more than one line (never shows the content).
    """
    if source == "-":
        raw = sys.stdin.read()
    else:
        try:
            raw = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{flag}: {source}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{flag}: {source}: not a text file") from None
    value = raw.strip() if single_word else raw.rstrip("\r\n")
    if not value.strip():
        raise UsageError(f"{flag}: {source}: is empty")
    if single_word and any(c.isspace() for c in value):
        raise UsageError(f"{flag}: {source}: the value must be a single word on one line")
    if "\n" in value or "\r" in value:
        raise UsageError(f"{flag}: {source}: the value must be on one line")
    return value


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
    return _ask_hidden(
        "Cloudflare API token (Zone:DNS:Edit and Zone:Zone:Read; input hidden)", single_word=True
    )


def _ask_hidden(label: str, *, single_word: bool) -> str:
    while True:
        if sys.stdin.isatty():
            value = str(typer.prompt(label, hide_input=True))
        else:
            # No terminal: nothing is echoed, and getpass would warn or open /dev/tty.
            typer.echo(f"{label}: ", nl=False, err=True)
            line = sys.stdin.readline()
            if not line:
                raise UsageError(f"no answer to {label!r} (end of input)")
            value = line
        value = value.strip() if single_word else value.rstrip("\r\n")
        if value.strip() and not (single_word and any(c.isspace() for c in value)):
            return value
        _common.err_console.print(
            "  the value must be a single word" if single_word else "  the value is empty",
            markup=False,
        )


def _parse_app_secrets(specs: list[str]) -> dict[tuple[str, str], str]:
    """``APP/KEY=FILE`` flags as ``{(app, key): file}``."""
    out: dict[tuple[str, str], str] = {}
    for spec in specs:
        target, sep, source = spec.partition("=")
        app, slash, key = target.partition("/")
        if not sep or not slash or not app or not key or not source:
            raise UsageError(f"{APP_SECRET_FLAG} {spec!r}: expected APP/KEY=FILE")
        if (app, key) in out:
            raise UsageError(f"{APP_SECRET_FLAG}: {app}/{key} given twice")
        out[(app, key)] = source
    return out


def collect_user_values(
    cfg: HomeportConfig,
    tree: Path,
    files: dict[str, str],
    app_files: dict[tuple[str, str], str],
    *,
    interactive: bool,
    force: bool,
) -> dict[tuple[str, str], dict[str, str]]:
    """Gather the secret values only the user knows, for every enabled feature.

    A secret that is not in the tree yet needs every such value: from its flag, else a
    hidden prompt, else (with --non-interactive) an error naming the flag. A secret that
    exists keeps its values unless a flag replaces them (with --force).

    Args:
        cfg: The config.
        tree: The GitOps tree (``<dir>/<git.path>``).
        files: Flag -> value read from its file, for the S3 and SMTP flags given.
        app_files: ``(app, key)`` -> value read from its ``--app-secret-file`` file.
        interactive: Whether prompting is allowed.
        force: Whether existing secrets may be rewritten.

    Returns:
        Values by ``(namespace, name)``, then key.

    Raises:
        UsageError: A flag names a secret the config does not need, or a needed value is
            missing with --non-interactive.
    """
    used: set[str] = set()
    used_apps: set[tuple[str, str]] = set()
    out: dict[tuple[str, str], dict[str, str]] = {}
    app_names = {a.name for a in cfg.apps}
    for ps in psec.platform_secrets(cfg):
        keys = secretstore.user_keys(ps, cfg)
        if not keys:
            continue
        is_app = ps.namespace in app_names and ps.name == psec.app_env_secret_name(ps.namespace)
        exists = secretstore.secret_path(tree, ps.namespace, ps.name).exists()
        values: dict[str, str] = {}
        for key in keys:
            if is_app:
                flag = f"{APP_SECRET_FLAG} {ps.namespace}/{key}=FILE"
                source = app_files.get((ps.namespace, key))
                used_apps.add((ps.namespace, key))
                label = f"Value of {key} for app {ps.namespace} (secret_env)"
            else:
                flag = _SECRET_FLAGS[(ps.name, key)]
                source = files.get(flag)
                used.add(flag)
                label = _SECRET_LABELS[(ps.name, key)]
            if source is not None:
                if exists and not force:
                    raise UsageError(
                        f"{flag.split()[0]}: {ps.namespace}/{ps.name} is already sealed; "
                        "use --force to replace its value"
                    )
                values[key] = source
            elif exists:
                continue  # kept as sealed
            elif interactive:
                values[key] = _ask_hidden(f"{label} (input hidden)", single_word=False)
            else:
                raise UsageError(
                    f"{flag} is required with --non-interactive: {ps.namespace}/{ps.name} "
                    f"({ps.needed_by}) needs key {key}"
                )
        if values:
            out[(ps.namespace, ps.name)] = values
    for flag in sorted(set(files) - used):
        raise UsageError(f"{flag}: not needed: {_SECRET_FEATURE[flag]} is not set in homeport.yaml")
    for app, key in sorted(set(app_files) - used_apps):
        raise UsageError(
            f"{APP_SECRET_FLAG} {app}/{key}: no app {app!r} reads key {key!r} through secret_env"
        )
    return out


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
    git_path: Annotated[
        str | None,
        typer.Option(
            "--git-path",
            help="Directory of the tree inside the repository (git.path). Default: cluster.",
        ),
    ] = None,
    use_config: Annotated[
        bool,
        typer.Option(
            "--use-config",
            help="Keep the homeport.yaml in --dir (e.g. a copy of an example) and create the "
            "secrets it needs under its git.path; secrets already sealed are kept.",
        ),
    ] = False,
    cloudflare_token_file: Annotated[
        str | None,
        typer.Option(
            "--cloudflare-token-file",
            help="File holding the Cloudflare API token, or - to read it from stdin.",
        ),
    ] = None,
    s3_access_key_id_file: Annotated[
        str | None,
        typer.Option(
            "--s3-access-key-id-file",
            help="File holding the S3 access key ID (backup.s3), or - for stdin.",
        ),
    ] = None,
    s3_secret_key_file: Annotated[
        str | None,
        typer.Option(
            "--s3-secret-key-file",
            help="File holding the S3 secret access key (backup.s3), or - for stdin.",
        ),
    ] = None,
    smtp_password_file: Annotated[
        str | None,
        typer.Option(
            "--smtp-password-file",
            help="File holding the SMTP password of e-mail alerts, or - for stdin.",
        ),
    ] = None,
    app_secret_file: Annotated[
        list[str] | None,
        typer.Option(
            "--app-secret-file",
            help="APP/KEY=FILE: a value of an app's secret_env (repeatable).",
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
    files = {
        flag: source
        for flag, source in (
            ("--s3-access-key-id-file", s3_access_key_id_file),
            ("--s3-secret-key-file", s3_secret_key_file),
            ("--smtp-password-file", smtp_password_file),
        )
        if source is not None
    }
    app_files = _parse_app_secrets(app_secret_file or [])
    from_stdin = [f for f, v in files.items() if v == "-"]
    from_stdin += [APP_SECRET_FLAG for v in app_files.values() if v == "-"]
    if cloudflare_token_file == "-":
        from_stdin.insert(0, "--cloudflare-token-file")
    if len(from_stdin) > 1:
        raise UsageError(f"{from_stdin[1]} -: only one flag can read stdin ({from_stdin[0]} does)")
    answers_missing = not use_config and None in (domain, email, git_url)
    if from_stdin and interactive and answers_missing:
        raise UsageError(
            f"{from_stdin[0]} -: stdin holds the secret, so give --domain, --email and "
            "--git-url too (or --non-interactive)"
        )
    config_path = directory / CONFIG_FILE
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--dir: {directory} is not a directory")
    text: str | None = None
    if use_config:
        given = [
            f
            for f, v in (
                ("--domain", domain),
                ("--email", email),
                ("--git-url", git_url),
                ("--git-path", git_path),
            )
            if v is not None
        ]
        if given:
            raise UsageError(
                f"{given[0]}: --use-config takes every answer from {config_path}; edit it there"
            )
        if not config_path.is_file():
            raise UsageError(f"--use-config: {config_path} does not exist")
        cfg = load_config(config_path)
    else:
        if config_path.exists() and not force:
            raise UsageError(
                f"{config_path} already exists; use --force to overwrite it, "
                "or --use-config to keep it"
            )
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
        text, cfg = build_config(domain, email, git_url, git_path or DEFAULT_GIT_PATH)
    # Secrets live in the tree Argo CD syncs: <dir>/<git.path>/secrets, never a fixed folder.
    tree = directory / cfg.git.path
    keep_existing = use_config and not force

    home = sealing.home_dir()
    for ps in psec.platform_secrets(cfg):
        path = secretstore.secret_path(tree, ps.namespace, ps.name)
        if not path.exists() or keep_existing:
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
        if keep_existing and not secretstore.token_needed(tree, cfg):
            # Silently ignoring it would leave the old token in place unnoticed.
            raise UsageError(
                "--cloudflare-token-file: the Cloudflare token is already sealed; "
                "use --force to replace it"
            )
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

    # Every file is read (and refused when empty or unreadable) before anything is asked.
    file_values = {
        flag: read_secret(flag, src, single_word=flag != "--smtp-password-file")
        for flag, src in files.items()
    }
    app_values = {
        k: read_secret(APP_SECRET_FLAG, src, single_word=False) for k, src in app_files.items()
    }
    supplied = collect_user_values(
        cfg, tree, file_values, app_values, interactive=interactive, force=force
    )

    pair, created = sealing.ensure_keypair(home)
    with tree_lock(tree):  # the secrets read and the secrets written are the same ones
        planned = secretstore.plan_platform_secrets(
            tree,
            cfg,
            pair.certificate(),
            pair.private_key(),
            token,
            force=force,
            rotate=rotate,
            supplied=supplied,
            keep_existing=keep_existing,
        )
        secretstore.write_planned(tree, planned)
        secretstore.atomic_write_text(repo_cert, pair.cert_path.read_text(encoding="ascii"))
    if text is not None:
        secretstore.atomic_write_text(config_path, text)

    out = _common.out_console
    out.print(f"{'wrote' if text is not None else 'using'} {config_path}", markup=False)
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
