"""``placement: ray``: what the config accepts and refuses, the Ray Serve config rendered from it, how
``citadel ray scale`` rewrites a deployed config, and that nothing outside the Ray nodes imports ray."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from citadel.cli.main import cli
from citadel.config import ConfigError, LlamaCppModel, RayPlacement, load_settings
from citadel.engines.local import local_services
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.metrics import GatewayMetrics
from citadel.ops.prestart.checks import run_checks
from citadel.ray_serve.rollout import proxy_conflict
from citadel.ray_serve.scaling import ScaleError, rescaled
from citadel.ray_serve.serve_config import REPLICA_IMPORT_PATH, serve_config
from citadel.ray_serve.status import parse_status
from tests.helpers import SMOLLM2_NAME, SMOLLM2_SOURCE, free_port, minilm_model, write_config

DASHBOARD = "http://10.0.0.9:8265"


def _ray_model(**placement: Any) -> dict[str, Any]:
    return {
        "name": SMOLLM2_NAME,
        "source": SMOLLM2_SOURCE,
        "limits": {"max_model_len": 512, "max_num_seqs": 4, "max_num_batched_tokens": 256, "max_waiting": 12},
        "cpu_quota": 150,
        "memory_limit": "1G",
        "placement": {"kind": "ray", "dashboard_url": DASHBOARD, **placement},
    }


def _problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, data))
    return caught.value.problems


def test_placement_ray_alone_takes_every_default(tmp_path: Path) -> None:
    model = {"name": SMOLLM2_NAME, "source": SMOLLM2_SOURCE, "placement": "ray"}
    settings = load_settings(write_config(tmp_path, {"models": [model]}))
    placed = settings.model(SMOLLM2_NAME, LlamaCppModel)
    assert placed.ray == RayPlacement()
    # The blueprint's triggers: 5 minutes busy to grow, 15 quiet to shrink.
    assert (placed.ray.upscale_delay_s, placed.ray.downscale_delay_s) == (300.0, 900.0)
    # The gateway's one upstream is Serve's proxy, at the model's route prefix; never the gateway's port.
    assert [u.base_url for u in placed.upstreams] == [f"http://127.0.0.1:11450/{SMOLLM2_NAME}"]
    # citadel up starts nothing for it; the pre-start checks say where it runs.
    assert local_services(settings) == []
    (check,) = [r for r in run_checks(settings) if r.subject == SMOLLM2_NAME]
    assert (check.check, check.ok) == ("ray", True)
    assert "http://127.0.0.1:8265" in check.detail


def test_keys_ray_would_ignore_are_refused(tmp_path: Path) -> None:
    model = {**_ray_model(), "port": 11400, "replicas": [{"port": 11401}]}
    (problem,) = _problems(tmp_path, {"models": [model]})
    assert "placed on Ray: drop 'port', 'replicas'" in problem
    (problem,) = _problems(tmp_path, {"models": [_ray_model(min_replicas=3, max_replicas=2)]})
    assert "max_replicas must not be below min_replicas" in problem
    (problem,) = _problems(tmp_path, {"models": [_ray_model(kind="k8s")]})
    assert problem.endswith(
        ".placement: Input should be 'local' or 'ray' (or a mapping with kind: ray), not 'k8s'"
    )
    (problem,) = _problems(tmp_path, {"models": [_ray_model(max_replica=2)]})
    assert problem == f"models[{SMOLLM2_NAME}].placement.max_replica: not a key of placement: ray"


def test_one_serve_proxy_per_cluster_and_no_port_shared_with_the_gateway(tmp_path: Path) -> None:
    embedding = {**minilm_model(0), "placement": {"kind": "ray", "dashboard_url": DASHBOARD, "serve_port": 9}}
    del embedding["host"], embedding["port"]
    (problem,) = _problems(tmp_path, {"models": [_ray_model(), embedding]})
    assert "name different Serve proxies" in problem
    (problem,) = _problems(tmp_path, {"gateway": {"port": 11450}, "models": [_ray_model()]})
    assert problem.endswith("port 11450 is used by both the gateway and Ray Serve at http://10.0.0.9:8265")


def _rendered(tmp_path: Path, model: dict[str, Any], **data: Any) -> dict[str, Any]:
    settings = load_settings(write_config(tmp_path, {"models": [model], **data}))
    return serve_config(settings, DASHBOARD)


def test_the_serve_config_carries_bounds_resources_and_the_blueprint_defaults(tmp_path: Path) -> None:
    config = _rendered(tmp_path, _ray_model(serve_port=12001, max_replicas=3))
    assert config["http_options"] == {"host": "127.0.0.1", "port": 12001}
    (app,) = config["applications"]
    assert (app["name"], app["route_prefix"], app["import_path"]) == (
        SMOLLM2_NAME,
        f"/{SMOLLM2_NAME}",
        REPLICA_IMPORT_PATH,
    )
    (deployment,) = app["deployments"]
    assert deployment["max_ongoing_requests"] == 4 + 12  # what the service itself admits
    assert deployment["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 3,
        "target_ongoing_requests": pytest.approx(0.7 * 4),  # busy above 70% of its sequence slots
        "upscale_delay_s": 300.0,
        "downscale_delay_s": 900.0,
        "look_back_period_s": 30.0,
    }
    assert deployment["ray_actor_options"] == {"num_cpus": 1.5, "memory": 1024**3}
    assert deployment["max_surge_percent"] == 100  # a rolling update makes before it breaks
    served = app["args"]["model"]
    assert served["threads"] == 1  # its share of CPUs on Ray, not every core of the node
    assert "placement" not in served
    assert "port" not in served


def test_a_replica_is_rolled_only_when_what_it_runs_changes(tmp_path: Path) -> None:
    base = _rendered(tmp_path, _ray_model())["applications"][0]
    gateway_only = {**_ray_model(max_replicas=9), "fallbacks": [], "cost": 3.0}
    assert _rendered(tmp_path, gateway_only)["applications"][0]["args"] == base["args"]
    bigger = copy.deepcopy(_ray_model())
    bigger["limits"]["max_num_seqs"] = 8
    assert _rendered(tmp_path, bigger)["applications"][0]["args"] != base["args"]


def test_no_secret_reaches_the_cluster(tmp_path: Path) -> None:
    tracing = {
        "endpoint": "http://127.0.0.1:4318",
        "headers": {"authorization": "Bearer collector-secret-42"},
    }
    config = _rendered(tmp_path, _ray_model(), tracing=tracing)
    assert "collector-secret-42" not in repr(config)
    assert "**" not in repr(config)  # left out, not masked: a masked header would be sent as is
    assert config["applications"][0]["args"]["tracing"]["endpoint"] == "http://127.0.0.1:4318"


def test_a_vllm_model_becomes_a_ray_serve_llm_application(tmp_path: Path) -> None:
    model = {**_ray_model(), "backend": "vllm", "source": "Qwen/Qwen2.5-0.5B-Instruct"}
    (app,) = _rendered(tmp_path, model)["applications"]
    assert app["import_path"] == "ray.serve.llm:build_openai_app"
    (llm,) = app["args"]["llm_configs"]
    assert llm["model_loading_config"] == {
        "model_id": SMOLLM2_NAME,
        "model_source": "Qwen/Qwen2.5-0.5B-Instruct",
    }
    assert llm["engine_kwargs"]["max_num_seqs"] == 4
    assert llm["deployment_config"]["autoscaling_config"]["max_replicas"] == 4


def _deployed(tmp_path: Path) -> dict[str, Any]:
    """What the dashboard reports after a deploy of the rendered config (shape of ServeInstanceDetails)."""
    config = _rendered(tmp_path, _ray_model())
    (app,) = config["applications"]
    replica = {"replica_id": "r1", "state": "RUNNING", "pid": 4242, "node_id": "n1"}
    deployment = {
        "name": "model-service",
        "status": "HEALTHY",
        "target_num_replicas": 1,
        "replicas": [replica],
        "deployment_config": {"autoscaling_config": app["deployments"][0]["autoscaling_config"]},
    }
    return {
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": 11450, "keep_alive_timeout_s": 90},
        "applications": {
            SMOLLM2_NAME: {
                "status": "RUNNING",
                "route_prefix": f"/{SMOLLM2_NAME}",
                "deployed_app_config": app,
                "deployments": {"model-service": deployment},
            }
        },
    }


def test_scale_changes_the_bounds_and_nothing_else(tmp_path: Path) -> None:
    status = parse_status(_deployed(tmp_path))
    (deployment,) = status.applications[SMOLLM2_NAME].deployments
    assert (deployment.running, deployment.min_replicas, deployment.max_replicas) == (1, 1, 4)
    change = rescaled(status, SMOLLM2_NAME, 2, None)
    (app,) = change.config["applications"]
    before = status.applications[SMOLLM2_NAME].deployed_config
    assert app["args"] == before["args"]
    assert app["import_path"] == before["import_path"]
    assert app["deployments"][0]["autoscaling_config"]["min_replicas"] == 2
    assert (change.min_replicas, change.max_replicas) == (2, 4)
    assert change.config["http_options"] == {"host": "127.0.0.1", "port": 11450}
    with pytest.raises(ScaleError, match="1 <= min <= max; got min 5, max 4"):
        rescaled(status, SMOLLM2_NAME, 5, None)
    with pytest.raises(ScaleError, match="not deployed on this cluster"):
        rescaled(status, "other", 1, 1)


def test_a_deploy_may_not_move_a_running_serve_proxy(tmp_path: Path) -> None:
    config = _rendered(tmp_path, _ray_model())
    assert proxy_conflict(parse_status({"applications": {}}), config) is None  # Serve not started yet
    assert proxy_conflict(parse_status(_deployed(tmp_path)), config) is None  # where it listens
    moved = _rendered(tmp_path, _ray_model(serve_port=11451))
    conflict = proxy_conflict(parse_status(_deployed(tmp_path)), moved)
    assert conflict is not None
    assert conflict.startswith("Ray Serve on this cluster listens on 127.0.0.1:11450, not 127.0.0.1:11451")


def test_the_cli_says_what_is_wrong(tmp_path: Path) -> None:
    plain = write_config(tmp_path, {"models": [{"name": "m", "source": SMOLLM2_SOURCE}]}, name="plain.yaml")
    result = CliRunner().invoke(cli, ["ray", "status", "--config", str(plain)])
    assert result.exit_code == 2
    assert "no model in the config has placement: ray" in result.output
    nobody = f"http://127.0.0.1:{free_port()}"
    placed = write_config(tmp_path, {"models": [_ray_model(dashboard_url=nobody)]}, name="placed.yaml")
    result = CliRunner().invoke(cli, ["ray", "status", "--config", str(placed)])
    assert result.exit_code == 1
    assert f"Ray dashboard {nobody}: ConnectError" in result.output
    result = CliRunner().invoke(cli, ["ray", "scale", SMOLLM2_NAME, "--config", str(placed)])
    assert result.exit_code == 2
    assert "give --min, --max or both" in result.output
    result = CliRunner().invoke(cli, ["serve-model", SMOLLM2_NAME, "--config", str(placed)])
    assert result.exit_code == 2
    assert "placed on Ray" in result.output


def test_the_gateway_retries_through_the_serve_proxy(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, {"models": [_ray_model()]}))
    directory = ModelDirectory(
        settings.models, settings.gateway, GatewayMetrics(CollectorRegistry()), clock=lambda: 0.0
    )
    pool = directory.resolve(SMOLLM2_NAME)
    (proxy,) = pool.replicas
    proxy.observe(True, conclusive=True)  # a good health probe of the proxy
    assert pool.pick() is proxy
    # Tried once already, the proxy is still a candidate: it routes the retry to another Ray replica.
    assert pool.pick(exclude=[proxy]) is proxy


def test_neither_the_cli_nor_the_gateway_imports_ray() -> None:
    code = (
        "import sys, citadel.cli.main, citadel.gateway.app, citadel.ray_serve.serve_config;"
        "sys.exit('ray' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
