"""``citadel render systemd|prometheus|grafana|haproxy|nginx --out DIR``: deployment assets from the
config."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.ops.render.assets import RenderedFiles, write_files
from citadel.ops.render.balancer import render_haproxy, render_nginx
from citadel.ops.render.grafana import render_grafana
from citadel.ops.render.prometheus import DEFAULT_ALERTMANAGER, render_prometheus
from citadel.ops.render.systemd import SystemdLayout, default_executable, render_systemd

_out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory to write into (created if missing; files there are overwritten).",
)


def _write(files: RenderedFiles, out_dir: Path) -> None:
    for path in write_files(files, out_dir):
        click.echo(f"wrote {path}")


@click.group("render")
def render() -> None:
    """Render deployment assets (systemd units, Prometheus config and rules, Grafana dashboards, load
    balancers)."""


@render.command("systemd")
@config_option
@_out_option
@click.option(
    "--installed-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Path of the config on the target host [default: --config, made absolute].",
)
@click.option(
    "--executable",
    type=click.Path(path_type=Path, dir_okay=False),
    default=default_executable,
    show_default="this installation's citadel",
    help="The citadel command the units run.",
)
@click.option("--env-dir", type=click.Path(path_type=Path), default=Path("/etc/citadel"), show_default=True)
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("/opt/citadel"), show_default=True)
@click.option("--user", default="agent0", show_default=True, help="User (and group) the services run as.")
def systemd(
    config_path: Path,
    out_dir: Path,
    installed_config: Path | None,
    executable: Path,
    env_dir: Path,
    workdir: Path,
    user: str,
) -> None:
    """The citadel-llm@.service template, citadel-llm.target, citadel-llm-gateway.service, a limits
    drop-in and an env file per model (env/*.env go to --env-dir)."""
    settings = load_or_exit(config_path)
    layout = SystemdLayout(
        config_path=(installed_config or config_path).absolute(),
        executable=executable,
        env_dir=env_dir,
        workdir=workdir,
        user=user,
        group=user,
    )
    _write(render_systemd(settings, layout), out_dir)


@render.command("prometheus")
@config_option
@_out_option
@click.option(
    "--alertmanager",
    default=DEFAULT_ALERTMANAGER,
    show_default=True,
    help="host:port of the Alertmanager that Prometheus sends alerts to.",
)
def prometheus(config_path: Path, out_dir: Path, alertmanager: str) -> None:
    """prometheus.yml (gateway and model services), recording and alert rules, alertmanager.yml."""
    _write(render_prometheus(load_or_exit(config_path), alertmanager), out_dir)


@render.command("grafana")
@config_option
@_out_option
def grafana(config_path: Path, out_dir: Path) -> None:
    """The operations and usage dashboards (JSON) and Grafana provisioning for them."""
    _write(render_grafana(load_or_exit(config_path)), out_dir)


@render.command("haproxy")
@config_option
@_out_option
def haproxy(config_path: Path, out_dir: Path) -> None:
    """haproxy.cfg: least connections over load_balancer.gateways, /health checks, retries, stats."""
    _write(render_haproxy(load_or_exit(config_path), config_path.name), out_dir)


@render.command("nginx")
@config_option
@_out_option
def nginx(config_path: Path, out_dir: Path) -> None:
    """citadel.conf (an nginx http {} include): least connections over load_balancer.gateways."""
    _write(render_nginx(load_or_exit(config_path), config_path.name), out_dir)
