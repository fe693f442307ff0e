"""``citadel ray render|deploy|status|scale``: the models placed on Ray, as Ray Serve applications.

Every command talks to the Ray dashboard named by the models' ``placement.dashboard_url`` over HTTP;
none imports ray (the Ray nodes do, when they run the replicas).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from citadel.cli.options import config_option, load_or_exit
from citadel.config import CitadelSettings
from citadel.ray_serve.dashboard import RayDashboard, RayDashboardError
from citadel.ray_serve.rollout import RolloutFailed, proxy_conflict, wait_for_bounds, wait_until_settled
from citadel.ray_serve.scaling import ScaleError, rescaled
from citadel.ray_serve.serve_config import clusters, serve_config
from citadel.ray_serve.status import ServeStatus


def _clusters_or_exit(settings: CitadelSettings) -> dict[str, list[str]]:
    grouped = {url: [m.name for m in models] for url, models in clusters(settings).items()}
    if not grouped:
        raise click.UsageError("no model in the config has placement: ray")
    return grouped


@click.group("ray")
def ray() -> None:
    """The elastic tier: models with placement: ray, run and autoscaled by Ray Serve."""


@ray.command("render")
@config_option
def render(config_path: Path) -> None:
    """Print the Ray Serve config that deploy sends, one YAML document per Ray cluster."""
    settings = load_or_exit(config_path)
    documents = [serve_config(settings, url) for url in _clusters_or_exit(settings)]
    click.echo(yaml.safe_dump_all(documents, sort_keys=False), nl=False)


@ray.command("deploy")
@config_option
@click.option(
    "--wait/--no-wait",
    default=True,
    envvar="CITADEL_RAY_WAIT",
    show_default=True,
    help="Wait until every model runs at its replica target.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    envvar="CITADEL_RAY_TIMEOUT",
    help="How long to wait [default: the longest startup_timeout_s of the models, plus a minute].",
)
def deploy(config_path: Path, wait: bool, timeout_s: float | None) -> None:
    """Deploy (or update) every model placed on Ray; a changed model rolls its replicas."""
    settings = load_or_exit(config_path)
    console = Console(stderr=True)
    for url, names in _clusters_or_exit(settings).items():
        budget = timeout_s or 60 + max(settings.model(name).startup_timeout_s for name in names)  # type: ignore[union-attr]
        try:
            with RayDashboard(url) as dashboard:
                config = serve_config(settings, url)
                conflict = proxy_conflict(dashboard.status(), config)
                if conflict:
                    raise click.ClickException(conflict)
                dashboard.deploy(config)
                console.print(f"sent {len(names)} application(s) to Ray Serve at {url}: {', '.join(names)}")
                if not wait:
                    continue
                with console.status("waiting for Ray Serve") as spinner:

                    def report(line: str) -> None:
                        console.print(f"  {line}")
                        spinner.update(line)

                    wait_until_settled(dashboard, names, budget, report)
        except (RayDashboardError, RolloutFailed) as exc:
            raise click.ClickException(str(exc)) from exc
    console.print("deployed")


@ray.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: one object per cluster.")
def status(config_path: Path, as_json: bool) -> None:
    """Each model on Ray: its application's status, replicas running of the target, bounds, replicas."""
    settings = load_or_exit(config_path)
    reports: dict[str, ServeStatus] = {}
    for url in _clusters_or_exit(settings):
        try:
            with RayDashboard(url) as dashboard:
                reports[url] = dashboard.status()
        except RayDashboardError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({url: _as_json(report) for url, report in reports.items()}, indent=2))
        return
    console = Console()
    for url, report in reports.items():
        table = Table(title=f"Ray Serve at {url}", title_justify="left")
        for column in ("model", "status", "running/target", "bounds", "replicas (state pid node)"):
            table.add_column(column)
        for app in report.applications.values():
            for deployment in app.deployments:
                replicas = "\n".join(
                    f"{r.replica_id} {r.state} {r.pid or '-'} {(r.node_id or '-')[:8]}"
                    for r in deployment.replicas
                )
                table.add_row(
                    app.name,
                    f"{app.status} / {deployment.status}",
                    f"{deployment.running}/{deployment.target_replicas}",
                    f"{deployment.min_replicas}-{deployment.max_replicas}",
                    replicas or "-",
                )
        console.print(table)


def _as_json(report: ServeStatus) -> dict[str, object]:
    return {
        name: {
            "status": app.status,
            "message": app.message,
            "deployments": {
                d.name: {
                    "status": d.status,
                    "target_replicas": d.target_replicas,
                    "running_replicas": d.running,
                    "min_replicas": d.min_replicas,
                    "max_replicas": d.max_replicas,
                    "replicas": [
                        {"id": r.replica_id, "state": r.state, "pid": r.pid, "node_id": r.node_id}
                        for r in d.replicas
                    ],
                }
                for d in app.deployments
            },
        }
        for name, app in report.applications.items()
    }


@ray.command("scale")
@click.argument("model")
@config_option
@click.option("--min", "min_replicas", type=click.IntRange(min=1), help="Fewest replicas.")
@click.option("--max", "max_replicas", type=click.IntRange(min=1), help="Most replicas.")
def scale(model: str, config_path: Path, min_replicas: int | None, max_replicas: int | None) -> None:
    """Set MODEL's replica bounds on its running deployment (kept until the next deploy)."""
    if min_replicas is None and max_replicas is None:
        raise click.UsageError("give --min, --max or both")
    settings = load_or_exit(config_path)
    try:
        placed = settings.model(model)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    url = next(
        (url for url, names in clusters(settings).items() if any(m.name == model for m in names)), None
    )
    if url is None:
        raise click.UsageError(f"model {placed.name!r} is not placed on Ray")
    try:
        with RayDashboard(url) as dashboard:
            change = rescaled(dashboard.status(), model, min_replicas, max_replicas)
            dashboard.deploy(change.config)
            app = wait_for_bounds(dashboard, model, (change.min_replicas, change.max_replicas), 30.0)
    except (RayDashboardError, ScaleError, RolloutFailed) as exc:
        raise click.ClickException(str(exc)) from exc
    for deployment in app.deployments:
        click.echo(
            f"{model}: bounds {deployment.min_replicas}-{deployment.max_replicas}, "
            f"{deployment.running} replica(s) running, target {deployment.target_replicas}"
        )
