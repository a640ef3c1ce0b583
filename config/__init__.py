"""Configuration: default YAML files beside this module and the pydantic models that validate them.

Every file `config/NAME.yaml` is loaded by `config.loader.load_config(NAME, Model)`; environment
variables `CDP_NAME__KEY__SUBKEY=value` override any key (values parsed as YAML scalars), and
`CDP_CONFIG_DIR` points at a folder of user YAML files that replace the defaults file by file.
"""
from config.loader import ConfigError, load_config, load_raw_config, default_home

__all__ = ["ConfigError", "load_config", "load_raw_config", "default_home"]
