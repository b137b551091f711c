"""``homeport app add|remove``: edit the apps of homeport.yaml, then re-render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from homeport.cli._common import load, out_console
from homeport.cli.render import ConfigOpt, default_out, write_checked
from homeport.config import HomeportConfig
from homeport.configedit import add_app, remove_app
from homeport.errors import ConfigError, UsageError
from homeport.fsutil import tree_lock
from homeport.gitops import TreeCheckFailed
from homeport.platform.apps import kept_objects

app_cmd = typer.Typer(help="Add or remove your apps (edits homeport.yaml, keeps your comments).")

RenderOpt = Annotated[
    bool, typer.Option("--render/--no-render", help="Re-render the tree afterwards.")
]


def _rerender(config: Path, cfg: HomeportConfig) -> None:
    target = default_out(config, cfg)
    try:
        res = write_checked(cfg, target, check=True)
    except ConfigError:
        raise
    except UsageError as exc:
        # A mirror login asked for but not sealed: the config edit stands, the tree waits.
        raise UsageError(f"{config} was updated but {target} was not: {exc}") from None
    except TreeCheckFailed as exc:
        raise TreeCheckFailed(
            target,
            exc.exit_code,
            f"{config} was updated but {target} was not: the rendered tree fails its check "
            "(fix the findings above, then `homeport render`, or `homeport render --force`)",
        ) from None
    out_console.print(
        f"re-rendered {target}: {len(res.added)} added, "
        f"{len(res.changed)} changed, {len(res.removed)} removed",
        markup=False,
    )


@app_cmd.command("add")
def add(
    name: Annotated[str, typer.Argument(help="App name (also its namespace).")],
    image: Annotated[
        str, typer.Option("--image", help="Image with a pinned tag, e.g. ghost:5.130.2.")
    ],
    port: Annotated[int, typer.Option("--port", help="Port the container listens on.")],
    host: Annotated[
        str | None, typer.Option("--host", help="Public host. Default: <name>.<domain>.")
    ] = None,
    auth: Annotated[
        Literal["sso", "public"] | None,
        typer.Option("--auth", help="sso (behind Authentik) or public."),
    ] = None,
    replicas: Annotated[int | None, typer.Option("--replicas", help="Number of pods.")] = None,
    config: ConfigOpt = Path("homeport.yaml"),
    render: RenderOpt = True,
) -> None:
    """Add an app to homeport.yaml and re-render the tree."""
    with tree_lock(default_out(config, load(config))):
        cfg = add_app(config, name, image, port, host=host, auth=auth, replicas=replicas)
        out_console.print(f"added {name} at {cfg.host_of(cfg.apps[-1])} to {config}", markup=False)
        if render:
            _rerender(config, cfg)


@app_cmd.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="App name.")],
    config: ConfigOpt = Path("homeport.yaml"),
    render: RenderOpt = True,
) -> None:
    """Remove an app from homeport.yaml and re-render (Argo CD then prunes it).

    Its data stays: the volume and the namespace holding it are never pruned.
    """
    with tree_lock(default_out(config, load(config))):
        before = next((a for a in load(config).apps if a.name == name), None)
        cfg = remove_app(config, name)
        out_console.print(f"removed {name} from {config}", markup=False)
        kept = kept_objects(before) if before is not None else []
        if kept:
            out_console.print(
                "Argo CD removes its workload but keeps its data (Prune=false,Delete=false):\n"
                + "".join(f"  {k}\n" for k in kept)
                + f"to delete the data on purpose, after Argo CD has synced: "
                f"kubectl delete namespace {name}",
                markup=False,
            )
        else:
            out_console.print(
                f"Argo CD deletes namespace {name} and everything in it on its next sync",
                markup=False,
            )
        if render:
            _rerender(config, cfg)


def register(app: typer.Typer) -> None:
    """Add the ``app`` command group."""
    app.add_typer(app_cmd, name="app")
