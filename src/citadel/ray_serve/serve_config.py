"""The Ray Serve config for the models placed on one Ray cluster: what ``citadel ray deploy`` sends.

It is Ray Serve's own declarative config (``serve deploy``'s schema): one application per model, routed at
``/<model>``, with its deployment's autoscaling bounds and resources. Ray Serve hashes each application's
``import_path`` and ``args`` into its code version; so a change of what a replica runs (weights, limits,
threads) rolls the replicas, while a change of bounds or targets is applied to the running ones.

Nothing here imports ray: the CLI renders and sends the config over HTTP.

>>> config = serve_config(settings, "http://127.0.0.1:8265")  # doctest: +SKIP
>>> config["applications"][0]["route_prefix"]  # doctest: +SKIP
'/smollm2-135m-instruct'
"""

from __future__ import annotations

from typing import Any

from citadel.config import CitadelSettings, LocalModelSettings, RayPlacement, VllmModel
from citadel.config.placement import SCALE_UP_BUSY_SHARE

# The deployment every Citadel application on Ray has (the vLLM ones are Ray Serve LLM's own).
DEPLOYMENT_NAME = "model-service"
REPLICA_IMPORT_PATH = "citadel.ray_serve.replica:build"
VLLM_IMPORT_PATH = "ray.serve.llm:build_openai_app"
# What the replica does not read, left out so that changing it does not roll the replicas: the gateway's
# keys, the placement (the deployment's options), where a local service would listen, the deploy's wait.
_NOT_THE_REPLICAS = frozenset(
    {"targets", "replicas", "balancing", "fallbacks", "timeouts", "capabilities", "cost", "placement"}
    | {"host", "port", "startup_timeout_s"}
)


def ray_models(settings: CitadelSettings) -> list[LocalModelSettings]:
    """The models placed on Ray, in config order."""
    return [m for m in settings.models if isinstance(m, LocalModelSettings) and m.ray is not None]


def clusters(settings: CitadelSettings) -> dict[str, list[LocalModelSettings]]:
    """The models placed on Ray, by the dashboard URL of their cluster."""
    grouped: dict[str, list[LocalModelSettings]] = {}
    for model in ray_models(settings):
        assert model.ray is not None
        grouped.setdefault(model.ray.dashboard_url, []).append(model)
    return grouped


def serve_config(settings: CitadelSettings, dashboard_url: str) -> dict[str, Any]:
    """Ray Serve's config for every model on the cluster at ``dashboard_url`` (a deploy replaces the
    cluster's applications with these)."""
    models = clusters(settings).get(dashboard_url, [])
    if not models:
        raise KeyError(f"no model is placed on the Ray cluster at {dashboard_url}")
    first = models[0].ray
    assert first is not None
    return {
        # One proxy, on the head, where the gateway reaches it; the replicas run on any node.
        "proxy_location": "HeadOnly",
        "http_options": {"host": first.serve_host, "port": first.serve_port},
        "applications": [application(settings, model) for model in models],
    }


def application(settings: CitadelSettings, model: LocalModelSettings) -> dict[str, Any]:
    """One model's Serve application."""
    assert model.ray is not None
    deployment = deployment_options(model, model.ray)
    if isinstance(model, VllmModel):
        return {
            "name": model.name,
            "route_prefix": f"/{model.name}",
            "import_path": VLLM_IMPORT_PATH,
            "args": {"llm_configs": [_llm_config(model, deployment)]},
        }
    return {
        "name": model.name,
        "route_prefix": f"/{model.name}",
        "import_path": REPLICA_IMPORT_PATH,
        "args": replica_args(settings, model),
        "deployments": [{"name": DEPLOYMENT_NAME, **deployment}],
    }


def deployment_options(model: LocalModelSettings, placement: RayPlacement) -> dict[str, Any]:
    """Autoscaling, admission and resources of one replica, from the placement and the model's limits."""
    limits = model.limits
    target = placement.target_ongoing_requests or max(1.0, SCALE_UP_BUSY_SHARE * limits.max_num_seqs)
    return {
        "max_ongoing_requests": placement.max_ongoing_requests or limits.max_num_seqs + limits.max_waiting,
        "autoscaling_config": {
            "min_replicas": placement.min_replicas,
            "max_replicas": placement.max_replicas,
            "target_ongoing_requests": target,
            "upscale_delay_s": placement.upscale_delay_s,
            "downscale_delay_s": placement.downscale_delay_s,
            "look_back_period_s": placement.look_back_period_s,
        },
        "max_surge_percent": placement.max_surge_percent,
        # Ray schedules by these (logical) resources: cpu_quota is percent of one CPU, as for systemd.
        "ray_actor_options": {"num_cpus": model.cpu_quota / 100, "memory": model.memory_limit_bytes},
    }


def replica_threads(model: LocalModelSettings) -> int | None:
    """Engine threads in a replica: the model's ``threads``, else its share of CPUs on Ray (at least 1),
    not every core of the node (which other replicas share)."""
    if isinstance(model, VllmModel):
        return None  # vLLM's own
    return model.threads or max(1, model.cpu_quota // 100)


def replica_args(settings: CitadelSettings, model: LocalModelSettings) -> dict[str, Any]:
    """What a replica builds its service from (JSON: Ray Serve keeps it in the deployed config).

    No secrets: the collector's headers are left out (a replica reads ``CITADEL_TRACING__HEADERS__*`` from
    its node's environment, as any Citadel process would).
    """
    served = model.model_dump(mode="json", exclude=set(_NOT_THE_REPLICAS))
    threads = replica_threads(model)
    if threads is not None:
        served["threads"] = threads
    return {
        "model": served,
        "log_level": settings.log_level,
        "tracing": settings.tracing.model_dump(mode="json", exclude={"headers"}),
    }


def _llm_config(model: VllmModel, deployment: dict[str, Any]) -> dict[str, Any]:
    """Ray Serve LLM's config for a vLLM model: the blueprint's engine arguments, Citadel's bounds."""
    limits = model.limits
    cpus = deployment["ray_actor_options"]["num_cpus"]
    return {
        "model_loading_config": {"model_id": model.name, "model_source": model.source},
        "engine_kwargs": {
            "max_model_len": limits.max_model_len,
            "max_num_seqs": limits.max_num_seqs,
            "max_num_batched_tokens": limits.max_num_batched_tokens,
            "enable_chunked_prefill": limits.enable_chunked_prefill,
            "enable_prefix_caching": limits.enable_prefix_caching,
            "tensor_parallel_size": limits.tensor_parallel_size,
            "pipeline_parallel_size": limits.pipeline_parallel_size,
        },
        "deployment_config": {
            "max_ongoing_requests": deployment["max_ongoing_requests"],
            "max_surge_percent": deployment["max_surge_percent"],
            "autoscaling_config": deployment["autoscaling_config"],
        },
        # CPU hosts (seed B.1: gpu_support false): one bundle of the model's CPUs per replica.
        "placement_group_config": {"bundles": [{"CPU": cpus}]},
    }
