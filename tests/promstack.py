"""Real Prometheus, promtool and Pushgateway processes for the tests, on free 127.0.0.1 ports.

Every process is started here and stopped by its own PID. A missing binary is a test failure, not a skip:
CI installs the Debian packages ``prometheus`` and ``prometheus-pushgateway``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def binary(name: str) -> str:
    """The path of ``name``, or a failed test saying which Debian package provides it."""
    path = shutil.which(name)
    if path is None:
        package = "prometheus-pushgateway" if "pushgateway" in name else "prometheus"
        pytest.fail(f"{name} not found: apt-get install -y --no-install-recommends {package}", pytrace=False)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backfill(openmetrics: str, datadir: Path) -> None:
    """Write ``openmetrics`` (must end with ``# EOF``) into a TSDB at ``datadir`` with promtool."""
    datadir.mkdir(parents=True, exist_ok=True)
    source = datadir.parent / f"{datadir.name}.om"
    source.write_text(openmetrics, encoding="utf-8")
    done = subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(datadir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {done.stderr[-2000:]}")


@dataclass
class Server:
    """A process listening on ``url``; :meth:`stop` ends it by PID."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers) and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start(argv: list[str], url: str, ready_path: str, log: Path) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, url, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url + ready_path, timeout=1).status_code == 200:
                # Still ours? A process that lost the port to another server exits at once: the answer was not its own.
                time.sleep(0.3)
                if process.poll() is None:
                    return server
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{argv[0]} did not become ready at {url}: {log.read_text(errors='replace')[-2000:]}")


def start_prometheus(datadir: Path, workdir: Path, *, scrape: str | None = None) -> Server:
    """Start Prometheus on ``datadir`` (retention 400 days: backfilled blocks stay); ``scrape`` is a
    ``host:port`` scraped every second with ``honor_labels`` (a Pushgateway)."""
    port = free_port()
    config = workdir / f"prometheus-{port}.yml"
    text = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
    if scrape:
        text += (
            "scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n"
            f"    static_configs:\n      - targets: ['{scrape}']\n"
        )
    config.write_text(text, encoding="utf-8")
    argv = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={datadir}",
        "--storage.tsdb.retention.time=400d",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return _start(argv, f"http://127.0.0.1:{port}", "/-/ready", workdir / f"prometheus-{port}.log")


def start_pushgateway(workdir: Path) -> Server:
    """Start a Pushgateway, in memory: Debian's build keeps its groups in /var/lib/prometheus/pushgateway.data by
    default, which would carry one test's pushes into the next gateway."""
    port = free_port()
    argv = [binary("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]
    return _start(argv, f"http://127.0.0.1:{port}", "/-/ready", workdir / f"pushgateway-{port}.log")
