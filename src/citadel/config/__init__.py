"""Typed configuration: one YAML file plus ``CITADEL_*`` environment overrides."""

from citadel.config.loader import ConfigError, load_settings, resolve_config_path
from citadel.config.sections import EngineLimits, GatewaySettings, ModelSettings, PerformanceTargets
from citadel.config.settings import CitadelSettings

__all__ = [
    "CitadelSettings",
    "ConfigError",
    "EngineLimits",
    "GatewaySettings",
    "ModelSettings",
    "PerformanceTargets",
    "load_settings",
    "resolve_config_path",
]
