"""``jetplug triton export|serve``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from ..host import PluginHost
from ..triton import ExportSettings, TritonServer, export_repository
from ..triton.repository import SERVABLE_FORMATS, TORCH_FORMATS


@click.group()
def triton() -> None:
    """Serve plugins on an NVIDIA Triton Inference Server."""


@triton.command()
@click.argument("plugins", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("model_repository"),
    show_default=True,
)
@click.option("--max-batch-size", type=int, default=65536, show_default=True)
@click.option(
    "--queue-delay-us",
    type=int,
    default=200,
    show_default=True,
    help="dynamic_batching max_queue_delay_microseconds.",
)
@click.option("--instances", type=int, default=1, show_default=True, help="KIND_CPU instances.")
@click.option("--threads", type=int, default=1, show_default=True, help="Threads per instance.")
@click.option("--version", "model_version", type=int, default=1, show_default=True)
@click.option(
    "--format",
    "torch_format",
    type=click.Choice(TORCH_FORMATS),
    default="torchscript",
    show_default=True,
    help="File torch plugins are served as (run by torch or by onnxruntime on the server).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Also serve the model files declared under 'models:' in this run config.",
)
def export(
    plugins: tuple[str, ...],
    output: Path,
    max_batch_size: int,
    queue_delay_us: int,
    instances: int,
    threads: int,
    model_version: int,
    torch_format: str,
    config_path: Path | None,
) -> None:
    """Write a Triton model repository for PLUGINS (default: every servable plugin).

    xgboost and ONNX artifacts are served as shipped; torch plugins as
    TorchScript or, with ``--format onnx``, as ONNX.
    """
    host = PluginHost()
    if config_path is not None:
        from ..config import load_config
        from ..declared import DeclaredModels

        host.register(DeclaredModels(load_config(config_path).models))
    names = list(plugins) or [
        n for n in host.models.names() if host.spec(n).artifact.format in SERVABLE_FORMATS
    ]
    settings = ExportSettings(
        max_batch_size, queue_delay_us, instances, threads, model_version, torch_format
    )
    for path in export_repository(host, names, output, settings):
        click.echo(f"wrote {path}/config.pbtxt and {path}/{model_version}/")


@triton.command()
@click.argument(
    "repository",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=Path("model_repository"),
)
@click.option("--http-port", type=int, default=None, help="Default: a free port.")
@click.option("--grpc-port", type=int, default=None, help="Default: a free port.")
@click.option("--metrics-port", type=int, default=None, help="Default: a free port.")
@click.option(
    "--env",
    type=click.Path(path_type=Path),
    default=None,
    help="Server virtual environment (default $JETPLUG_TRITON_ENV or .venv-triton).",
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(
    repository: Path,
    http_port: int | None,
    grpc_port: int | None,
    metrics_port: int | None,
    env: Path | None,
    server_args: tuple[str, ...],
) -> None:
    """Run tritonserver on REPOSITORY (127.0.0.1) until SIGTERM or Ctrl-C.

    Arguments after ``--`` go to tritonserver, e.g.
    ``-- --grpc-use-ssl=true --grpc-server-cert=cert.pem --grpc-server-key=key.pem``.
    """
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    server = TritonServer(
        repository,
        env=env,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        extra_args=server_args,
    )
    try:
        server.start()
        click.echo(f"ready: grpc {server.grpc_url}  http {server.http_url}  log {server.log_path}")
        while not stop.wait(1.0):
            if not server.is_running():
                click.echo("tritonserver exited", err=True)
                break
    finally:
        code = server.stop()
        for s, h in previous.items():
            signal.signal(s, h)
        click.echo(f"stopped (exit status {code})")
