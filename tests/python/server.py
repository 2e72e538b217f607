"""Runs a real `mtls-proxy serve` process for the client suites.

Each `ProxyServer` owns a temporary directory holding its TOML config, its SQLite store and
the combined stdout/stderr log of every process it started (shown in the pytest report when a
test fails). Restarts reuse the same config, so the store must bring everything back.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "mtls-proxy"
READY_TIMEOUT = float(os.environ.get("MTLS_PROXY_READY_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0


def binary_path() -> Path:
    return Path(os.environ.get("MTLS_PROXY_BIN") or DEFAULT_BIN)


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports that were free a moment ago (the OS picks them; all are
    held open until every one is chosen, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


class ServerError(RuntimeError):
    pass


class ProxyServer:
    """One configured server instance, started and stopped as a subprocess."""

    def __init__(self, workdir: Path, token: str | None = None, binary: Path | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.binary = Path(binary or binary_path())
        self.token = token or ("t-" + secrets.token_hex(16))
        self.admin_port, self.proxy_port = free_ports(2)
        self.store_path = self.workdir / "store.db"
        self.config_path = self.workdir / "mtls-proxy.toml"
        self.proc: subprocess.Popen | None = None
        self.logs: list[Path] = []
        self._write_config()

    # -- configuration -------------------------------------------------------------------

    def _write_config(self) -> None:
        self.config_path.write_text(
            "[admin]\n"
            f'listen = "127.0.0.1:{self.admin_port}"\n'
            f'token = "{self.token}"\n'
            "\n[store]\n"
            f'path = "{self.store_path}"\n'
            "\n[proxy]\n"
            f'listen = "127.0.0.1:{self.proxy_port}"\n'
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if not self.binary.is_file():
            raise ServerError(
                f"mtls-proxy binary not found at {self.binary}: run `cargo build` first "
                "or set MTLS_PROXY_BIN"
            )
        log = self.workdir / f"server-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            env = dict(os.environ)
            env.setdefault("RUST_BACKTRACE", "1")
            env.setdefault("NO_COLOR", "1")  # plain log lines in the pytest report
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(
                    f"mtls-proxy exited with status {self.proc.returncode} before it was ready\n"
                    + self.log_text()
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"status {resp.status}"
            except urllib.error.HTTPError as e:
                last = f"status {e.code}"
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        raise ServerError(
            f"mtls-proxy not healthy after {timeout}s ({last})\n" + self.log_text()
        )

    def stop(self, hard: bool = False) -> int | None:
        """SIGTERM (or SIGKILL when `hard`), then SIGKILL if it does not exit in time."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=STOP_TIMEOUT)

    def restart(self, hard: bool = False) -> None:
        """Stop the process (gracefully, or `kill -9` when `hard`) and start it again on the
        same config, store and ports."""
        self.stop(hard=hard)
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- diagnostics ---------------------------------------------------------------------

    def log_text(self, limit: int = 20000) -> str:
        parts = []
        for log in self.logs:
            try:
                data = log.read_bytes()
            except OSError:
                continue
            text = data[-limit:].decode("utf-8", "replace")
            parts.append(f"--- {log.name} ({len(data)} bytes) ---\n{text}")
        return "\n".join(parts) or "(no server output)"
