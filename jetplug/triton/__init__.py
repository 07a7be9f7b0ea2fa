"""Serving jetplug models on NVIDIA Triton: repository export and the bundled server."""

from .repository import ExportSettings, config_pbtxt, export_repository
from .server import TritonServer, TritonServerError, default_server_env, free_port

__all__ = [
    "ExportSettings",
    "TritonServer",
    "TritonServerError",
    "config_pbtxt",
    "default_server_env",
    "export_repository",
    "free_port",
]
