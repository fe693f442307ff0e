"""Typed configuration: one YAML file plus ``CITADEL_*`` environment overrides."""

from citadel.config.loader import ConfigError, load_settings, resolve_config_path
from citadel.config.models import (
    EmbeddingModel,
    LlamaCppModel,
    LocalModel,
    LocalModelSettings,
    RemoteModel,
    VllmModel,
    as_backend,
)
from citadel.config.placement import RayPlacement
from citadel.config.sections import EngineLimits, GatewaySettings, ModelSettings, PerformanceTargets
from citadel.config.settings import CitadelSettings

__all__ = [
    "CitadelSettings",
    "ConfigError",
    "EmbeddingModel",
    "EngineLimits",
    "GatewaySettings",
    "LlamaCppModel",
    "LocalModel",
    "LocalModelSettings",
    "ModelSettings",
    "PerformanceTargets",
    "RayPlacement",
    "RemoteModel",
    "VllmModel",
    "as_backend",
    "load_settings",
    "resolve_config_path",
]
