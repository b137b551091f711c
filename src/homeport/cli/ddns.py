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


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c",
        "--config",
        help="homeport.yaml; its cloudflare: section supplies the defaults.",
        envvar=_env("CONFIG"),
    ),
]
ZoneOpt = Annotated[
    str | None,
    typer.Option("--zone", help="Cloudflare zone, e.g. example.com.", envvar=_env("ZONE")),
]
ZoneIdOpt = Annotated[
    str | None,
    typer.Option(
        "--zone-id",
        help="The zone's ID (Overview page); skips the zone lookup, so the token needs no "
        "Zone.Zone read.",
        envvar=_env("ZONE_ID"),
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
Ipv4Opt = Annotated[
    bool | None, typer.Option("--ipv4/--no-ipv4", help="Manage A records.", envvar=_env("IPV4"))
]
Ipv6Opt = Annotated[
    bool | None, typer.Option("--ipv6/--no-ipv6", help="Manage AAAA records.", envvar=_env("IPV6"))
]
ProxiedOpt = Annotated[
    bool | None,
    typer.Option(
        "--proxied/--no-proxied", help="Proxy through Cloudflare.", envvar=_env("PROXIED")
    ),
]
TtlOpt = Annotated[
    int | None, typer.Option("--ttl", help="TTL in seconds; 1 = automatic.", envvar=_env("TTL"))
]
IntervalOpt = Annotated[
    str | None,
    typer.Option(
        "--interval", help="Time between cycles of run, e.g. 5m.", envvar=_env("INTERVAL")
    ),
]
ProviderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ip-provider",
        help="Address detector (repeatable, in order): cloudflare.trace, cloudflare.doh, ipify, "
        "url:<URL>, static:<IP>.",
        envvar=_env("IP_PROVIDER"),
    ),
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option("--api-url", help="Cloudflare API base URL.", envvar=_env("API_URL")),
]
OwnerOpt = Annotated[
    str | None,
    typer.Option(
        "--owner-comment",
        help='Comment marking records this controller owns (default "managed-by: homeport").',
        envvar=_env("OWNER_COMMENT"),
    ),
]
ListenOpt = Annotated[
    str | None,
    typer.Option(
        "--listen", help="HOST:PORT of /metrics, /healthz, /readyz (run).", envvar=_env("LISTEN")
    ),
]
HealthchecksOpt = Annotated[
    str | None,
    typer.Option(
        "--healthchecks-url", help="healthchecks.io ping URL.", envvar=_env("HEALTHCHECKS_URL")
    ),
]
KumaOpt = Annotated[
    str | None,
    typer.Option("--uptime-kuma-url", help="Uptime Kuma push URL.", envvar=_env("UPTIME_KUMA_URL")),
]
StatusCmOpt = Annotated[
    str | None,
    typer.Option(
        "--status-configmap",
        help=f"Publish the status to this ConfigMap (default in a cluster: {STATUS_CONFIGMAP}).",
        envvar=_env("STATUS_CONFIGMAP"),
    ),
]
StatusNsOpt = Annotated[
    str | None,
    typer.Option(
        "--status-namespace",
        help="Namespace of the status ConfigMap.",
        envvar=_env("STATUS_NAMESPACE"),
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", help="Per-request timeout in seconds (default 10).", envvar=_env("TIMEOUT")
    ),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help="File holding the API token (else CLOUDFLARE_API_TOKEN).",
        envvar=_env("TOKEN_FILE"),
    ),
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
        typer.Option("--dry-run", help="Detect and plan, write nothing.", envvar=_env("DRY_RUN")),
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
