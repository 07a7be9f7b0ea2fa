"""Which installed package provides each plugin, and why a worker process lacks one.

The driver records, for each plugin of a run that an entry point provides,
the distribution, its version and the entry point (:class:`Provider`). A
worker process (Dask, futures) builds its own plugin host from its own Python
environment; when that host has no such plugin, :func:`missing_on_worker`
turns the bare "unknown plugin" into one line naming the worker (its Dask
address, or host and process id), the plugin, the distribution that provides
it on the driver, why this worker lacks it (not installed, another version,
the entry point blocked or failing to load) and the install line. (A
worker's host loads entry points as the driver's does, whatever its own
``JETPLUG_DISABLE_PLUGIN_AUTOLOAD`` says.)
"""

from __future__ import annotations

import contextvars
import importlib.metadata
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import JetplugError, PluginMissingOnWorkerError, UnknownPluginError
from .host import BLOCK_ENV, PluginHost, blocked_by_env
from .perthread import NoAnswer, call_within

if TYPE_CHECKING:
    from .plugins import Plugins

__all__ = ["Provider", "check_dask_workers", "missing_on_worker", "providers", "worker_name"]


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


# the Dask worker's address while check_dask_workers runs in it (Client.run runs outside any
# task, where distributed.get_worker does not know the worker); a context variable, so task
# threads running meanwhile do not see it
_CHECKING_AS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "jetplug_checking_as", default=None
)
WORKER_CHECK_TIMEOUT_S = 60.0


def worker_name() -> str:
    """This process as a worker: ``worker tcp://host:port`` on Dask, else host and pid."""
    checking_as = _CHECKING_AS.get()
    if checking_as is not None:
        return f"worker {checking_as}"
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):  # not in a Dask worker
        return f"worker process {os.getpid()} on {socket.gethostname()}"


def _why(provider: Provider, error: UnknownPluginError) -> str:
    ep = provider.entry_point
    if ep in blocked_by_env():
        return f"the entry point is blocked there by {BLOCK_ENV} (unblock it)"
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


def _build_here(plugins: Plugins, dask_worker: Any) -> str | None:
    """Build ``plugins``' chain in this worker (cached for its chunks); why not, or ``None``.

    ``dask_worker``: given by ``Client.run``, whose functions run outside any
    task (so ``distributed.get_worker`` does not know the worker).
    """
    token = _CHECKING_AS.set(str(dask_worker.address))
    try:
        plugins.chain  # noqa: B018  (building it is the point)
    except Exception as e:  # a worker's environment can fail in any way
        why = str(e) if isinstance(e, JetplugError) else f"{type(e).__name__}: {e}"
        return why if why.startswith(worker_name()) else f"{worker_name()}: {why}"
    finally:
        _CHECKING_AS.reset(token)
    return None


def check_dask_workers(client: Any, plugins: Plugins) -> None:
    """Build the plugin chain on every worker of ``client``'s cluster before any chunk.

    The chain is what each worker builds for its first chunk anyway (plugins
    from its entry points, options, backends; models load with the first
    chunk): built now on every worker and cached there, in about 0.1 s. A
    worker that cannot build it (a plugin's package missing in its
    environment, another version, an option or backend it lacks) stops the
    run here, naming the worker, instead of failing every chunk it gets.
    Workers that join later build it with their first chunk, as before.
    """
    try:  # Client.run has no timeout of its own
        answers = call_within(
            lambda: client.run(_build_here, plugins, on_error="return"),
            WORKER_CHECK_TIMEOUT_S,
            "jetplug-check-workers",
        )
    except NoAnswer:
        msg = (
            f"the Dask workers did not answer within {WORKER_CHECK_TIMEOUT_S:.0f} s when asked "
            "to build this config's plugins before the run (a worker's event loop blocked?)"
        )
        raise JetplugError(msg) from None
    except Exception as e:
        msg = f"checking the Dask workers before the run failed: {type(e).__name__}: {e}"
        raise JetplugError(msg) from e
    problems = {}
    for address, why in sorted(answers.items()):
        if isinstance(why, BaseException):  # could not run there (died, older jetplug, ...)
            why = f"worker {address}: {type(why).__name__}: {why}"
        if why:
            problems[address] = why
    if problems:
        first = next(iter(problems.values()))
        more = f" (and {len(problems) - 1} more worker(s))" if len(problems) > 1 else ""
        msg = (
            f"{len(problems)} of {len(answers)} Dask worker(s) cannot run this config's "
            f"plugins, checked before any chunk: {first}{more}"
        )
        raise PluginMissingOnWorkerError(msg)
