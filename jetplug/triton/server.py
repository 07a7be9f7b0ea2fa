"""Launch the ``tritonserver`` binary bundled in ``nvidia-pytriton==0.7.0``.

The server runs from its own virtual environment (its python backend needs
numpy<2, the analysis environment numpy 2). ``scripts/setup.sh`` creates it
as ``.venv-triton`` next to ``.venv``; ``$JETPLUG_TRITON_ENV`` points
elsewhere. What this module does, as found on this kind of machine:

* builds a backend directory ``python/`` holding ``libtriton_python.so``,
  ``triton_python_backend_utils.py`` and the python-version stub
  ``triton_python_backend_stub`` (which the wheel keeps elsewhere);
* puts the server Python's ``LIBDIR`` first on ``LD_LIBRARY_PATH`` (then the
  wheel's bundled libraries) and the server venv's ``bin`` first on ``PATH``;
* binds HTTP, gRPC and metrics to 127.0.0.1 on free (or chosen) ports and
  waits for ``/v2/health/ready``;
* stops with SIGTERM (then SIGKILL after a timeout), or :meth:`TritonServer.kill`
  kills it outright (SIGKILL), as a crash would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from ..errors import TritonServerError

__all__ = ["TritonServer", "TritonServerError", "default_server_env", "free_port"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_server_env() -> Path:
    """``$JETPLUG_TRITON_ENV`` or ``.venv-triton`` beside the running environment."""
    env = os.environ.get("JETPLUG_TRITON_ENV")
    return Path(env) if env else Path(sys.prefix).parent / ".venv-triton"


_PROBE = (
    "import json, os, sys, sysconfig, pytriton, numpy;"
    "print(json.dumps({'pytriton': os.path.dirname(pytriton.__file__),"
    "'libdir': sysconfig.get_config_var('LIBDIR'), 'numpy': numpy.__version__,"
    "'py': '%d.%d' % sys.version_info[:2]}))"
)


class TritonServer:
    """A running ``tritonserver`` on a model repository (context manager).

    Parameters
    ----------
    repository
        A Triton model repository (e.g. from ``jetplug triton export``).
    env
        The server's virtual environment (default :func:`default_server_env`).
    http_port, grpc_port, metrics_port
        Ports on 127.0.0.1; free ones are chosen when ``None``.
    """

    def __init__(
        self,
        repository: Path,
        *,
        env: Path | None = None,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        startup_timeout: float = 180.0,
        log_path: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.repository = Path(repository).resolve()
        self.env = Path(env) if env else default_server_env()
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.extra_args = tuple(extra_args)
        """More ``tritonserver`` flags, e.g. ``--grpc-use-ssl=true`` and its certificates."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def grpc_url(self) -> str:
        """``127.0.0.1:<grpc port>``."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``127.0.0.1:<http port>``."""
        return f"127.0.0.1:{self.http_port}"

    def _probe(self) -> dict[str, str]:
        python = self.env / "bin" / "python"
        if not python.exists():
            msg = (
                f"no Triton server environment at {self.env}: create it with "
                "`bash scripts/setup.sh` or set JETPLUG_TRITON_ENV"
            )
            raise TritonServerError(msg)
        out = subprocess.run(
            [str(python), "-c", _PROBE], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            msg = f"{self.env} lacks nvidia-pytriton: {out.stderr.strip().splitlines()[-1:]}"
            raise TritonServerError(msg)
        info: dict[str, str] = json.loads(out.stdout)
        if int(info["numpy"].split(".")[0]) >= 2:
            msg = f"{self.env} has numpy {info['numpy']}; the python backend needs numpy<2"
            raise TritonServerError(msg)
        return info

    def start(self) -> TritonServer:
        """Start the server and wait until it is ready."""
        if not self.repository.is_dir():
            msg = f"model repository {self.repository} does not exist"
            raise TritonServerError(msg)
        info = self._probe()
        root = Path(info["pytriton"]) / "tritonserver"
        self._tmp = tempfile.TemporaryDirectory(prefix="jetplug-triton-")
        backends = Path(self._tmp.name) / "backends"
        python_backend = backends / "python"
        python_backend.mkdir(parents=True)
        for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
            shutil.copy2(root / "backends" / "python" / name, python_backend / name)
        stub = root / "python_backend_stubs" / info["py"] / "triton_python_backend_stub"
        shutil.copy2(stub, python_backend / "triton_python_backend_stub")
        libs = Path(info["pytriton"]).parent / "nvidia_pytriton.libs"
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [info["libdir"], str(libs), env.get("LD_LIBRARY_PATH", "")]
        ).rstrip(os.pathsep)
        env["PATH"] = os.pathsep.join([str(self.env / "bin"), env.get("PATH", "")])
        env.pop("PYTHONPATH", None)
        env["VIRTUAL_ENV"] = str(self.env)
        cmd = [
            str(root / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            "--exit-on-error=true",
            "--exit-timeout-secs=25",  # unloading many python-backend models on a busy machine
            *self.extra_args,
        ]
        log = self.log_path or Path(self._tmp.name) / "tritonserver.log"
        self.log_path = log
        with log.open("wb") as out:
            self._proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                msg = (
                    f"tritonserver exited with status {self._proc.returncode}:\n{self._log_tail()}"
                )
                self._cleanup()
                raise TritonServerError(msg)
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self.stop()
        msg = f"tritonserver not ready after {self.startup_timeout:.0f} s:\n{self._log_tail()}"
        raise TritonServerError(msg)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (``None`` before start and after stop)."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the server (SIGKILL after ``timeout``); returns its exit status."""
        code = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            code = self._proc.returncode
            self._proc = None
        self._cleanup()
        return code

    def kill(self) -> int | None:
        """SIGKILL the server at once (no graceful shutdown) and wait for it; its exit status.

        What a crashed or OOM-killed server looks like to its clients: requests
        in flight lose their connection, new ones are refused. Its python-backend
        stub processes are killed with it (left alone, they outlive the server).
        """
        code = None
        if self._proc is not None:
            if self._proc.poll() is None:
                import psutil  # distributed's dependency

                try:
                    stubs = psutil.Process(self._proc.pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    stubs = []
                self._proc.kill()
                for stub in stubs:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        stub.kill()
            code = self._proc.wait()
            self._proc = None
        self._cleanup()
        return code

    def _cleanup(self) -> None:
        if self._tmp is not None and self._proc is None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
