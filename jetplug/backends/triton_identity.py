"""Is the model a Triton server serves the plugin's model? Tensors and artifact identity.

Before the first request to a server, the Triton backend reads the model's
metadata and configuration (``get_model_metadata``, ``get_model_config``,
gRPC or HTTP) and checks:

* the tensors: names, dtypes and shapes of the plugin's ``tensors_in`` and
  ``tensors_out``, and a ``max_batch_size`` of at least 1;
* the artifact: ``jetplug triton export`` writes the sha256 of the plugin's
  artifact (``jetplug_source_sha256``) and the plugin's version
  (``jetplug_plugin_version``) into the standard ``parameters`` of
  ``config.pbtxt``; both must equal the plugin's, so a model that has the
  right tensors but another plugin's (or an older) artifact is refused.
  Backend option ``check_artifact: false`` skips this for repositories not
  written by jetplug.

:class:`ServedModel` is what the server said; it is recorded in provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, TritonMismatchError
from ..spec import TRITON_DATATYPES, ModelSpec, TensorSpec

__all__ = ["ServedModel", "compare_tensors", "parse_urls", "served_model"]

_SCHEMES = ("http://", "https://", "grpc://", "grpcs://")


def parse_urls(value: Any) -> list[str]:
    """Backend option ``url``: ``host:port`` or a list of them, checked when the plugins are
    built. A scheme (``grpc://``, ``http://``) is refused: the clients take ``host:port`` and
    never reached such a server, so with ``fallback: local`` every row ran in-process."""
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
        msg = f"backend 'triton': option 'url': expected host:port or a list of them, got {value!r}"
        raise ConfigError(msg)
    if not urls:
        msg = "backend 'triton': option 'url': needs at least one host:port"
        raise ConfigError(msg)
    for url in urls:
        scheme = next((s for s in _SCHEMES if url.lower().startswith(s)), None)
        if scheme is not None:
            msg = (
                f"backend 'triton': option 'url': {url!r} has a scheme; write host:port "
                f"({url[len(scheme) :]!r}): option 'protocol' (grpc or http) picks the protocol"
                " and 'tls' the encryption"
            )
            raise ConfigError(msg)
    return list(urls)


ARTIFACT_SHA256 = "jetplug_source_sha256"
"""``config.pbtxt`` parameter: sha256 of the plugin's artifact (the file it ships)."""
FILE_SHA256 = "jetplug_sha256"
"""``config.pbtxt`` parameter: sha256 of the file the server loads (e.g. TorchScript)."""
PLUGIN_VERSION = "jetplug_plugin_version"
"""``config.pbtxt`` parameter: the plugin's version."""


@dataclass(frozen=True)
class ServedModel:
    """What one server said about the model it serves for a plugin."""

    url: str
    model_name: str
    model_version: str
    artifact_sha256: str | None
    file_sha256: str | None
    plugin_version: str | None
    max_batch_size: int

    def record(self) -> dict[str, Any]:
        """The provenance entry: server, model name and version, sha256s, plugin version."""
        return {
            "url": self.url,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "artifact_sha256": self.artifact_sha256,
            "file_sha256": self.file_sha256,
            "plugin_version": self.plugin_version,
        }


def compare_tensors(
    declared: tuple[TensorSpec, ...], served: list[dict[str, Any]], max_batch: int, kind: str
) -> list[str]:
    """Differences between the plugin's tensors and the served ones (empty: they match)."""
    by_name = {t["name"]: t for t in served}
    problems = []
    for t in declared:
        got = by_name.get(t.name)
        if got is None:
            problems.append(f"{kind} {t.name!r} not served (server has {sorted(by_name)})")
            continue
        if got["datatype"] != TRITON_DATATYPES[t.dtype]:
            problems.append(
                f"{kind} {t.name!r} is {got['datatype']} on the server, {t.dtype} in the plugin"
            )
        shape = [int(d) for d in got["shape"]]
        expected = [-1, *(t.shape or (1,))] if max_batch > 0 else list(t.shape or (1,))
        if shape != expected:
            problems.append(
                f"{kind} {t.name!r} has shape {shape} on the server, expected {expected}"
            )
    return problems


def _parameters(config: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in dict(config.get("parameters") or {}).items():
        text = value.get("string_value") if isinstance(value, dict) else value
        if text is not None:
            out[str(key)] = str(text)
    return out


def _identity(spec: ModelSpec, served: ServedModel) -> list[str]:
    if served.artifact_sha256 is None:
        return [
            f"its config.pbtxt has no {ARTIFACT_SHA256!r} parameter, so it cannot be told "
            f"to hold the plugin's artifact (sha256 {spec.artifact.sha256}); export the "
            "repository with `jetplug triton export`, or set backend option "
            "check_artifact: false"
        ]
    problems = []
    if served.artifact_sha256 != spec.artifact.sha256:
        problems.append(
            f"it serves artifact sha256 {served.artifact_sha256} "
            f"(plugin version {served.plugin_version}), "
            f"the plugin's is {spec.artifact.sha256} (version {spec.version})"
        )
    elif served.plugin_version != spec.version:
        problems.append(
            f"it serves plugin version {served.plugin_version}, the plugin is version "
            f"{spec.version} (same artifact sha256 {spec.artifact.sha256})"
        )
    return problems


def served_model(
    spec: ModelSpec,
    url: str,
    name: str,
    version: str,
    meta: dict[str, Any],
    config: dict[str, Any],
    *,
    check_artifact: bool = True,
) -> ServedModel:
    """Check a server's ``meta``/``config`` (JSON) against ``spec``; what it serves.

    Raises :class:`TritonMismatchError` naming the plugin, the server, the
    model and every difference (tensors, max batch size, artifact sha256,
    plugin version).
    """
    config = dict(config.get("config", config))
    served_max = int(config.get("max_batch_size", 0))
    versions = [str(v) for v in meta.get("versions") or []] or [version or "?"]
    params = _parameters(config)
    served = ServedModel(
        url=url,
        model_name=name,
        model_version=version or max(versions, key=lambda v: int(v) if v.isdigit() else -1),
        artifact_sha256=params.get(ARTIFACT_SHA256),
        file_sha256=params.get(FILE_SHA256),
        plugin_version=params.get(PLUGIN_VERSION),
        max_batch_size=served_max,
    )
    problems = compare_tensors(spec.tensors_in, meta.get("inputs", []), served_max, "input")
    problems += compare_tensors(spec.tensors_out, meta.get("outputs", []), served_max, "output")
    if served_max < 1:
        problems.append("the served model has max_batch_size 0 (no batching)")
    if check_artifact:
        problems += _identity(spec, served)
    if problems:
        msg = (
            f"plugin {spec.name!r} does not match model {name!r} "
            f"(version {served.model_version}) on {url}: " + "; ".join(problems)
        )
        raise TritonMismatchError(msg)
    return served
