"""Experiment configs: the schema with its defaults, and loading a config file with overrides."""

from cnnjax.config.layout import check_layout
from cnnjax.config.loading import ConfigError, apply_overrides, load_config
from cnnjax.config.schema import base_config, validate_config

__all__ = ["ConfigError", "apply_overrides", "base_config", "check_layout", "load_config", "validate_config"]
