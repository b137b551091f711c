"""``homeport ddns run`` and ``homeport ddns once``: the Cloudflare DDNS controller."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from homeport.cli import _common
from homeport.ddns import logs
from homeport.ddns.controller import Controller, CycleResult, DdnsFailed, make_publisher, serve
from homeport.ddns.options import STATUS_CONFIGMAP, DdnsOptions, RawOptions, read_token, resolve

ddns_app = typer.Typer(
    name="ddns",
    help="Keep Cloudflare A/AAAA records pointing at this network's public address.",
    no_args_is_help=True,
)


def _env(name: str) -> str:
    return f"HOMEPORT_DDNS_{name}"


def _opt(flag: str, help: str, env: str) -> Any:
    """An option that ``HOMEPORT_DDNS_<env>`` also sets (how the Deployment configures run)."""
    return typer.Option(flag, help=help, envvar=_env(env))


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c",
        "--config",
        help="homeport.yaml; its cloudflare: section supplies the defaults.",
        envvar=_env("CONFIG"),
    ),
]
ZoneOpt = Annotated[str | None, _opt("--zone", "Cloudflare zone, e.g. example.com.", "ZONE")]
ZoneIdOpt = Annotated[
    str | None,
    _opt(
        "--zone-id",
        "The zone's ID (Overview page); skips the zone lookup, so the token needs no "
        "Zone.Zone read.",
        "ZONE_ID",
    ),
]
RecordOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--record",
        help='Record to manage (repeatable): "@" apex, "*" wildcard, or a name. Default: @ and *.',
        envvar=_env("RECORD"),
    ),
]
Ipv4Opt = Annotated[bool | None, _opt("--ipv4/--no-ipv4", "Manage A records.", "IPV4")]
Ipv6Opt = Annotated[bool | None, _opt("--ipv6/--no-ipv6", "Manage AAAA records.", "IPV6")]
ProxiedOpt = Annotated[
    bool | None, _opt("--proxied/--no-proxied", "Proxy through Cloudflare.", "PROXIED")
]
TtlOpt = Annotated[int | None, _opt("--ttl", "TTL in seconds; 1 = automatic.", "TTL")]
IntervalOpt = Annotated[
    str | None, _opt("--interval", "Time between cycles of run, e.g. 5m.", "INTERVAL")
]
ProviderOpt = Annotated[
    list[str] | None,
    _opt(
        "--ip-provider",
        "Address detector (repeatable, in order): cloudflare.trace, cloudflare.doh, ipify, "
        "url:<URL>, static:<IP>.",
        "IP_PROVIDER",
    ),
]
ApiUrlOpt = Annotated[str | None, _opt("--api-url", "Cloudflare API base URL.", "API_URL")]
OwnerOpt = Annotated[
    str | None,
    typer.Option(
        "--owner-comment",
        help='Comment marking records this controller owns (default "managed-by: homeport").',
        envvar=_env("OWNER_COMMENT"),
    ),
]
ListenOpt = Annotated[
    str | None, _opt("--listen", "HOST:PORT of /metrics, /healthz, /readyz (run).", "LISTEN")
]
HealthchecksOpt = Annotated[
    str | None, _opt("--healthchecks-url", "healthchecks.io ping URL.", "HEALTHCHECKS_URL")
]
KumaOpt = Annotated[
    str | None, _opt("--uptime-kuma-url", "Uptime Kuma push URL.", "UPTIME_KUMA_URL")
]
StatusCmOpt = Annotated[
    str | None,
    _opt(
        "--status-configmap",
        f"Publish the status to this ConfigMap (default in a cluster: {STATUS_CONFIGMAP}).",
        "STATUS_CONFIGMAP",
    ),
]
StatusNsOpt = Annotated[
    str | None, _opt("--status-namespace", "Namespace of the status ConfigMap.", "STATUS_NAMESPACE")
]
TimeoutOpt = Annotated[
    float | None, _opt("--timeout", "Per-request timeout in seconds (default 10).", "TIMEOUT")
]
TokenFileOpt = Annotated[
    Path | None,
    _opt("--token-file", "File holding the API token (else CLOUDFLARE_API_TOKEN).", "TOKEN_FILE"),
]


# Parameters that are not controller options, and those named differently there.
_NOT_OPTIONS = ("config", "token_file", "dry_run")
_RENAMED = {"record": "records", "ip_provider": "ip_providers"}


def _options(params: dict[str, Any]) -> DdnsOptions:
    """Resolve the controller options from a command's parameters (and -c defaults)."""
    config: Path | None = params["config"]
    given = {_RENAMED.get(k, k): v for k, v in params.items() if k not in _NOT_OPTIONS}
    cfg = None
    if config is not None:
        from homeport.config import load_config  # pydantic only when -c is given

        cfg = load_config(config)
    return resolve(RawOptions(**given), cfg)


def _summary(result: CycleResult, dry_run: bool) -> None:
    for fam, addr in result.addresses.items():
        _common.out_console.print(f"{fam}: {addr or '-'}", markup=False)
    for r in result.records:
        _common.out_console.print(
            f"{r.type:<4} {r.name} {r.content or '-'} {r.state}", markup=False
        )
    if result.ok:
        _common.out_console.print(
            "dry run: nothing written" if dry_run else "DNS is right", markup=False
        )


@ddns_app.command("once")
def once(
    config: ConfigOpt = None,
    zone: ZoneOpt = None,
    zone_id: ZoneIdOpt = None,
    record: RecordOpt = None,
    ipv4: Ipv4Opt = None,
    ipv6: Ipv6Opt = None,
    proxied: ProxiedOpt = None,
    ttl: TtlOpt = None,
    interval: IntervalOpt = None,
    ip_provider: ProviderOpt = None,
    api_url: ApiUrlOpt = None,
    owner_comment: OwnerOpt = None,
    listen: ListenOpt = None,
    healthchecks_url: HealthchecksOpt = None,
    uptime_kuma_url: KumaOpt = None,
    status_configmap: StatusCmOpt = None,
    status_namespace: StatusNsOpt = None,
    timeout: TimeoutOpt = None,
    token_file: TokenFileOpt = None,
    dry_run: Annotated[
        bool,
        _opt("--dry-run", "Detect and plan, write nothing.", "DRY_RUN"),
    ] = False,
) -> None:
    """Reconcile once: exit 0 when DNS is right or was fixed, 1 when it could not be made right."""
    opts = _options(locals())  # first statement: locals() holds exactly the parameters
    token = read_token(os.environ.get("CLOUDFLARE_API_TOKEN"), token_file)
    # The summary below says everything; JSON logs are for the long-running controller.
    logs.setup(logging.CRITICAL + 1)
    controller = Controller(opts, token, publisher=None if dry_run else make_publisher(opts))
    try:
        result = controller.run_once(dry_run=dry_run)
    finally:
        controller.close()
    _summary(result, dry_run)
    if not result.ok:
        raise DdnsFailed(result.errors)


@ddns_app.command("run")
def run(
    config: ConfigOpt = None,
    zone: ZoneOpt = None,
    zone_id: ZoneIdOpt = None,
    record: RecordOpt = None,
    ipv4: Ipv4Opt = None,
    ipv6: Ipv6Opt = None,
    proxied: ProxiedOpt = None,
    ttl: TtlOpt = None,
    interval: IntervalOpt = None,
    ip_provider: ProviderOpt = None,
    api_url: ApiUrlOpt = None,
    owner_comment: OwnerOpt = None,
    listen: ListenOpt = None,
    healthchecks_url: HealthchecksOpt = None,
    uptime_kuma_url: KumaOpt = None,
    status_configmap: StatusCmOpt = None,
    status_namespace: StatusNsOpt = None,
    timeout: TimeoutOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Reconcile every --interval until SIGTERM; serve /metrics, /healthz and /readyz."""
    opts = _options(locals())  # first statement: locals() holds exactly the parameters
    token = read_token(os.environ.get("CLOUDFLARE_API_TOKEN"), token_file)
    logs.setup(logging.INFO)
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve(Controller(opts, token, publisher=make_publisher(opts)), stop)


def register(app: typer.Typer) -> None:
    """Add the ``ddns`` command group to the CLI."""
    app.add_typer(ddns_app, name="ddns")
