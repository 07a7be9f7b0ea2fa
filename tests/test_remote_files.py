"""Remote input files: a missing protocol package, an unreachable or stalled server (issue 12, item 8).

Each is one line naming the URL, found at preflight before any chunk runs; a
server that never answers costs the run config's ``timeout`` once, not five
minutes per file. A real file served over HTTP runs like a local one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from jetplug import ConfigError, InputFileError
from jetplug.cli import main
from jetplug.config import parse_config
from jetplug.runner import run

from .tcp_proxy import FaultyProxy


def _raw(files: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "fileset": {"remote": files},
        "schema": "nanoaod",
        "plugins": ["top_bdt"],
        "histograms": {
            "score": {
                "axes": [{"field": "FatJet.top_bdt.score", "bins": 10, "start": 0, "stop": 1}]
            }
        },
        **extra,
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line_error(excinfo: pytest.ExceptionInfo[InputFileError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert not getattr(excinfo.value, "__notes__", None)
    return message


@pytest.mark.skipif(
    importlib.util.find_spec("fsspec_xrootd") is not None, reason="fsspec-xrootd is installed"
)
def test_root_url_without_xrootd_gives_the_install_line(tmp_path: Path) -> None:
    url = "root://eospublic.cern.ch//eos/opendata/cms/nano.root"
    cfg = parse_config(_raw([url]), base=tmp_path)
    with pytest.raises(InputFileError) as info:
        run(cfg)
    message = _one_line_error(info)
    assert message == (
        f"dataset 'remote', file {url}: reading root:// files needs a package that is not "
        "installed; install it with: pip install 'jetplug[xrootd]'"
    )

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_raw([url])))
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {message}"]


def test_unreachable_server_is_one_line_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/f.root"
    cfg = parse_config(_raw([url]), base=tmp_path)
    with pytest.raises(InputFileError) as info:
        run(cfg)
    message = _one_line_error(info)
    assert message.startswith(f"dataset 'remote', file {url}: cannot be reached (")
    assert "Connect" in message and "corrupt" not in message


def test_stalled_server_times_out_once_for_all_files(tmp_path: Path) -> None:
    with FaultyProxy(mode="hang") as server:  # accepts, reads, never answers
        urls = [f"http://{server.url}/f{i}.root" for i in range(4)]
        cfg = parse_config(_raw(urls, timeout=1.5), base=tmp_path)
        assert cfg.timeout == 1.5
        started = time.monotonic()
        with pytest.raises(InputFileError) as info:
            run(cfg)
        elapsed = time.monotonic() - started
        assert server.accepted >= 4  # every file was tried, at once
    message = _one_line_error(info)
    assert message == (
        f"dataset 'remote', file {urls[0]}: the server did not answer within 1.5 s "
        "(the run config's 'timeout', or jetplug run --timeout)"
    )
    assert elapsed < 4.5, f"preflight took {elapsed:.1f} s for 4 stalled files"


def test_timeout_option_overrides_the_config(tmp_path: Path) -> None:
    with FaultyProxy(mode="hang") as server:
        url = f"http://{server.url}/f.root"
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(_raw([url], timeout=600)))
        started = time.monotonic()
        result = CliRunner().invoke(
            main, ["run", str(path), "--timeout", "1", "-o", str(tmp_path / "out")]
        )
        assert time.monotonic() - started < 30
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: dataset 'remote', file {url}: the server did not answer within 1 s "
        "(the run config's 'timeout', or jetplug run --timeout)"
    ]
    bad = CliRunner().invoke(main, ["run", str(path), "--timeout", "0"])
    assert bad.exit_code == 2 and "--timeout" in bad.output


@pytest.mark.parametrize("value", [0, -3, "soon", True])
def test_timeout_key_must_be_positive_seconds(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match=r"timeout: seconds to wait for a remote file"):
        parse_config(_raw(["x.root"], timeout=value), base=tmp_path)


class _RangeHandler(SimpleHTTPRequestHandler):
    """Serves files with HTTP range requests, as fsspec reads them."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        spec = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not spec or not path.is_file():
            return super().send_head()
        data = path.read_bytes()
        first, _, last = spec.removeprefix("bytes=").partition("-")
        start = int(first)
        stop = min(int(last) + 1 if last else len(data), len(data))
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        return io.BytesIO(data[start:stop])


@contextlib.contextmanager
def _http_server(directory: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_file_over_http_runs_like_the_local_file(real_data: Path, tmp_path: Path) -> None:
    local = parse_config(_raw([str(real_data / "nano_dy.root")]), base=tmp_path)
    with _http_server(real_data) as base_url:
        remote = parse_config(_raw([f"{base_url}/nano_dy.root"], timeout=10), base=tmp_path)
        result = run(remote)
    reference = run(local)
    assert result.events == reference.events == 40
    assert result.files[0].size is None and result.files[0].entries == 40
    np.testing.assert_array_equal(
        result.hists["remote"]["score"].view(flow=True),
        reference.hists["remote"]["score"].view(flow=True),
    )
    assert result.provenance["config"]["content"]["timeout"] == 10
