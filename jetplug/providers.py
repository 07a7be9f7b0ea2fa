"""Which installed package provides each plugin, and why a worker process lacks one.

The driver records, for each plugin of a run that an entry point provides,
the distribution, its version and the entry point (:class:`Provider`). A
worker process (Dask, futures) builds its own plugin host from its own Python
environment; when that host has no such plugin, :func:`missing_on_worker`
turns the bare "unknown plugin" into one line naming the worker (its Dask
address, or host and process id), the plugin, the distribution that provides
it on the driver, why this worker lacks it (not installed, another version,
the entry point blocked or failing to load, entry points disabled) and the
install line.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
from dataclasses import dataclass

from .errors import PluginMissingOnWorkerError, UnknownPluginError
from .host import BLOCK_ENV, DISABLE_AUTOLOAD_ENV, PluginHost

__all__ = ["Provider", "missing_on_worker", "providers", "worker_name"]


@dataclass(frozen=True)
class Provider:
    """The distribution that provides a plugin on the driver."""

    plugin: str
    distribution: str
    version: str
    entry_point: str

    @property
    def install(self) -> str:
        """The install line for the distribution, at the driver's version."""
        return f"pip install '{self.distribution}=={self.version}'"


def providers(host: PluginHost, names: list[str]) -> dict[str, Provider]:
    """``plugin -> Provider`` for the plugins in ``names`` that an entry point provides."""
    out = {}
    for name in dict.fromkeys(names):
        found = host.provider(name)
        if found is not None:
            out[name] = Provider(name, *found)
    return out


def worker_name() -> str:
    """This process as a worker: ``worker tcp://host:port`` on Dask, else host and pid."""
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):  # not in a Dask worker
        return f"worker process {os.getpid()} on {socket.gethostname()}"


def _why(provider: Provider, error: UnknownPluginError) -> str:
    ep = provider.entry_point
    if ep in {b.strip() for b in os.environ.get(BLOCK_ENV, "").split(",")}:
        return f"the entry point is blocked there by {BLOCK_ENV} (unblock it)"
    if os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip() not in ("", "0", "false", "False"):
        return f"entry points are disabled there by {DISABLE_AUTOLOAD_ENV}"
    for note in getattr(error, "__notes__", []):
        if note.startswith(f"entry point {ep!r} is not loaded: "):
            return str(note).split(": ", 1)[1]
    try:
        version = importlib.metadata.version(provider.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "the distribution is not installed there"
    return f"{provider.distribution} {version} is installed there, which does not provide it"


def missing_on_worker(
    error: UnknownPluginError, known: dict[str, Provider]
) -> PluginMissingOnWorkerError | None:
    """``error`` (a plugin this process lacks) as one line naming the worker; ``None`` if
    the driver did not get the plugin from an installed distribution either."""
    provider = known.get(error.name)
    if provider is None:
        return None
    msg = (
        f"{worker_name()} lacks plugin {provider.plugin!r} (distribution "
        f"{provider.distribution} {provider.version}, entry point {provider.entry_point!r}): "
        f"{_why(provider, error)}; install it in the workers' environment as on the "
        f"driver: {provider.install}"
    )
    return PluginMissingOnWorkerError(msg)
