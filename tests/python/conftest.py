"""pytest fixtures: a real `mtls-proxy serve` per test, the official `fastly` client bound to
it, and a session-wide test PKI.

The server binary is `target/debug/mtls-proxy` under the repository (override with
MTLS_PROXY_BIN). Its output is captured into the test's tmp dir and attached to the pytest
report of any test that fails.
"""

from __future__ import annotations

import os
import time

import pytest

import pki as pki_mod
from client import Apis
from server import ProxyServer, ServerError

_SERVERS_ATTR = "_mtls_proxy_servers"

# The client turns API timestamps into datetimes labelled with the *local* zone (dateutil
# tzlocal); pin it so comparisons with certificate validity are exact on any machine.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session")
def pki() -> pki_mod.TestPki:
    return pki_mod.build()


@pytest.fixture
def start_server(request, tmp_path_factory):
    """Factory: start another server (own dir, ports, token); all are stopped at teardown."""
    started: list[ProxyServer] = []
    setattr(request.node, _SERVERS_ATTR, started)

    def _start(**kwargs) -> ProxyServer:
        srv = ProxyServer(tmp_path_factory.mktemp("mtls-proxy"), **kwargs)
        started.append(srv)
        error = None
        try:
            srv.start()
        except ServerError as e:
            error = str(e)
        if error is not None:
            pytest.fail(error, pytrace=False)
        return srv

    yield _start
    for srv in started:
        srv.stop()


@pytest.fixture
def server(start_server) -> ProxyServer:
    return start_server()


@pytest.fixture
def apis(server) -> Apis:
    return Apis(server.url, server.token)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, srv in enumerate(getattr(item, _SERVERS_ATTR, []), 1):
            report.sections.append(
                (f"mtls-proxy #{i} output ({srv.workdir})", srv.log_text())
            )
        cli = getattr(item, "funcargs", {}).get("cli")
        if cli is not None and getattr(cli, "transcript", None):
            report.sections.append(("fastly CLI transcript", "\n".join(cli.transcript)))
