"""The official Fastly CLI (npm `@fastly/cli-linux-x64`, a Go binary built on go-fastly) against a
real `mtls-proxy serve`.

tests/run-all.sh installs the CLI into target/npm; this module installs nothing and skips only
when the binary is absent (override its path with FASTLY_CLI_BIN), and then fails instead under
MTLS_PROXY_REQUIRE_TOOLS=1, which tests/run-all.sh sets.

Offline operation:
  * the API endpoint is given with the hidden global flag `--api URL` or env
    FASTLY_API_ENDPOINT, the token with `--token` or env FASTLY_API_TOKEN;
  * before any command that uses a token, CLI 16.x fetches OpenID Connect metadata from its
    *account* endpoint (`<account>/realms/fastly/.well-known/openid-configuration`, hard
    failure when unreachable). FASTLY_ACCOUNT_ENDPOINT points it at a tiny local stub that
    answers `{}`; the stub takes no part in the TLS API calls, which all go to mtls-proxy;
  * HOME/XDG_CONFIG_HOME point into the test's tmp dir, so the CLI's config file is private to
    the test and no user profile or token leaks in;
  * HTTP(S)_PROXY point at a closed loopback port, so the CLI's background update check (and
    anything else that is not loopback) fails at once instead of waiting on DNS or network.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from client import Apis, as_dict, ma_member, rel_id, rel_ids
from server import REPO_ROOT, free_port

CLI_BIN = Path(
    os.environ.get("FASTLY_CLI_BIN")
    or REPO_ROOT / "target" / "npm" / "node_modules" / "@fastly" / "cli-linux-x64" / "fastly"
)

_MISSING = (
    f"Fastly CLI not found at {CLI_BIN} "
    "(tests/run-all.sh installs @fastly/cli-linux-x64 into target/npm; or set FASTLY_CLI_BIN)"
)
if not CLI_BIN.is_file() and os.environ.get("MTLS_PROXY_REQUIRE_TOOLS") == "1":
    pytest.fail(f"{_MISSING}, and MTLS_PROXY_REQUIRE_TOOLS=1 forbids skipping", pytrace=False)
pytestmark = pytest.mark.skipif(not CLI_BIN.is_file(), reason=f"skipped: {_MISSING}")

OIDC_PATH = "/realms/fastly/.well-known/openid-configuration"
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class _AccountStub(BaseHTTPRequestHandler):
    """Stands in for accounts.fastly.com: only the OIDC metadata document the CLI insists on."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        body = b"{}" if self.path == OIDC_PATH else b'{"error":"not found"}'
        self.send_response(200 if self.path == OIDC_PATH else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def account_stub():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _AccountStub)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class Cli:
    """Runs the CLI against one server; `via_env` passes endpoint and token as env vars
    instead of `--api`/`--token`."""

    def __init__(self, server, account_url: str, home: Path):
        self.server = server
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FASTLY_")}
        env = {k: v for k, v in env.items() if k.lower() not in _PROXY_VARS}
        # Anything the CLI tries to reach besides loopback (its update check) goes to a closed
        # local port and fails at once: no DNS, no outbound traffic. Go never proxies loopback.
        dead_proxy = f"http://127.0.0.1:{free_port()}"
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            FASTLY_ACCOUNT_ENDPOINT=account_url,
            HTTP_PROXY=dead_proxy,
            HTTPS_PROXY=dead_proxy,
            NO_COLOR="1",
        )
        self.env = env
        self.transcript: list[str] = []

    def run(self, *args: str, via_env: bool = False, token: str | None = None, check: bool = True):
        token = self.server.token if token is None else token
        env = dict(self.env)
        argv = [str(CLI_BIN), *args, "--non-interactive"]
        if via_env:
            env["FASTLY_API_ENDPOINT"] = self.server.url
            env["FASTLY_API_TOKEN"] = token
        else:
            argv += ["--api", self.server.url, "--token", token]
        proc = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        shown = " ".join(a if a != token else "<token>" for a in argv[1:])
        self.transcript.append(
            f"$ fastly {shown}\n[rc={proc.returncode}]\n{proc.stdout}{proc.stderr}"
        )
        if check:
            assert proc.returncode == 0, "\n".join(self.transcript[-1:])
        return proc

    def json(self, *args: str, **kwargs):
        proc = self.run(*args, "-j", **kwargs)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(f"CLI -j output is not JSON ({e}):\n{self.transcript[-1]}")


@pytest.fixture
def cli(server, account_stub, tmp_path):
    """The CLI bound to this test's server; its transcript is reported if the test fails
    (conftest.py)."""
    return Cli(server, account_stub, tmp_path / "cli-home")


def field(obj: dict, name: str):
    """A go-fastly struct field from `-j` output (Go field names, e.g. `ID`, `KeyLength`)."""
    if name in obj:
        return obj[name]
    want = name.replace("_", "").lower()
    for k, v in obj.items():
        if k.replace("_", "").lower() == want:
            return v
    raise KeyError(f"{name} not in {sorted(obj)}")


def by_name(items: list[dict], name: str) -> dict:
    hits = [i for i in items if field(i, "Name") == name]
    assert len(hits) == 1, (name, items)
    return hits[0]


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_cli_private_keys_certificates_domains(cli, server, pki, tmp_path):
    apis = Apis(server.url, server.token)
    assert cli.json("tls-custom", "private-key", "list") == []

    # private-key create (from a file and inline), list, describe.
    out = cli.run(
        "tls-custom", "private-key", "create", "--name", "cli ec key",
        "--key-path", write(tmp_path, "ec.key", pki.ec_leaf.key_pkcs8),
    ).stdout
    assert "cli ec key" in out
    cli.run(
        "tls-custom", "private-key", "create", "--name", "cli rsa key",
        # `--key=…` form: kingpin takes a separate value starting with "-" for a flag.
        f"--key={pki.rsa_leaf.key_pkcs8}", via_env=True,
    )
    keys = cli.json("tls-custom", "private-key", "list")
    assert len(keys) == 2
    ec_key = by_name(keys, "cli ec key")
    assert field(ec_key, "KeyLength") == 256
    rsa_key = by_name(keys, "cli rsa key")
    assert field(rsa_key, "KeyLength") == 2048 and field(rsa_key, "KeyType") == "RSA"
    assert len(field(ec_key, "ID")) == 22
    desc = cli.json("tls-custom", "private-key", "describe", "--id", field(ec_key, "ID"))
    assert field(desc, "Name") == "cli ec key"
    # Same resource seen through the Python client.
    assert as_dict(apis.keys.get_tls_key(field(ec_key, "ID")))["data"]["attributes"]["name"] == "cli ec key"
    unused = cli.json("tls-custom", "private-key", "list", "--filter-in-use", "false")
    assert len(unused) == 2

    # certificate create / list / describe.
    out = cli.run(
        "tls-custom", "certificate", "create", "--name", "cli ec cert",
        "--cert-path", write(tmp_path, "ec.crt", pki.ec_leaf.cert_pem),
    ).stdout
    certs = cli.json("tls-custom", "certificate", "list")
    assert len(certs) == 1
    cert = certs[0]
    cert_id = field(cert, "ID")
    assert cert_id in out
    assert field(cert, "Name") == "cli ec cert"
    desc = cli.json("tls-custom", "certificate", "describe", "--id", cert_id)
    assert field(desc, "SerialNumber") == str(pki.ec_leaf.cert.serial_number)
    assert field(desc, "SignatureAlgorithm") == "ECDSA-SHA256"
    assert field(desc, "IssuedTo") == "www.example.com"
    assert field(desc, "Issuer") == pki.ec_ca.common_name
    # go-fastly parsed the timestamps (it needs the literal Z): they come back as RFC 3339.
    assert field(desc, "NotAfter").startswith(pki.ec_leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S"))
    assert sorted(field(d, "ID") for d in field(desc, "Domains")) == ["*.example.com", "www.example.com"]
    text = cli.run("tls-custom", "certificate", "describe", "--id", cert_id).stdout
    assert cert_id in text and "cli ec cert" in text

    filtered = cli.json("tls-custom", "certificate", "list", "--filter-domain", "www.example.com")
    assert [field(c, "ID") for c in filtered] == [cert_id]
    assert cli.json("tls-custom", "certificate", "list", "--filter-domain", "nothing.example.org") == []
    paged = cli.json("tls-custom", "certificate", "list", "--page", "1", "--per-page", "1", "--sort=-created_at")
    assert [field(c, "ID") for c in paged] == [cert_id]

    # The key is now in use.
    unused = cli.json("tls-custom", "private-key", "list", "--filter-in-use", "false")
    assert [field(k, "Name") for k in unused] == ["cli rsa key"]

    # domain list.
    domains = cli.json("tls-custom", "domain", "list")
    assert sorted(field(d, "ID") for d in domains) == ["*.example.com", "www.example.com"]
    domains = cli.json("tls-custom", "domain", "list", "--filter-cert", cert_id, via_env=True)
    assert sorted(field(d, "ID") for d in domains) == ["*.example.com", "www.example.com"]

    # certificate update: the CLI insists on a blob; replace the certificate (same SANs, other
    # key, uploaded first) and rename it in one PATCH.
    apis.create_key(pki.ec_leaf2.key_pkcs8, name="replacement key")
    cli.run(
        "tls-custom", "certificate", "update", "--id", cert_id, "--name", "renamed by cli",
        "--cert-path", write(tmp_path, "ec2.crt", pki.ec_leaf2.cert_pem),
    )
    attrs = as_dict(apis.certs.get_tls_cert(cert_id))["data"]["attributes"]
    assert attrs["name"] == "renamed by cli"
    assert attrs["serial_number"] == str(pki.ec_leaf2.cert.serial_number)
    desc = cli.json("tls-custom", "certificate", "describe", "--id", cert_id)
    assert field(desc, "SerialNumber") == str(pki.ec_leaf2.cert.serial_number)

    # certificate delete, private-key delete.
    cli.run("tls-custom", "certificate", "delete", "--id", cert_id)
    assert cli.json("tls-custom", "certificate", "list") == []
    cli.run("tls-custom", "private-key", "delete", "--id", field(rsa_key, "ID"))
    names = sorted(field(k, "Name") for k in cli.json("tls-custom", "private-key", "list"))
    assert names == ["cli ec key", "replacement key"]


def test_cli_tls_config(cli, server):
    apis = Apis(server.url, server.token)
    configs = cli.json("tls-config", "list")
    defaults = [c for c in configs if field(c, "Default") is True]
    assert len(defaults) == 1
    conf = defaults[0]
    conf_id = field(conf, "ID")
    assert field(conf, "TLSProtocols") == ["1.2", "1.3"]
    assert field(conf, "HTTPProtocols") == ["http/1.1", "http/2"]
    desc = cli.json("tls-config", "describe", "--id", conf_id)
    assert field(desc, "ID") == conf_id and field(desc, "Default") is True
    text = cli.run("tls-config", "describe", "--id", conf_id, via_env=True).stdout
    assert conf_id in text

    out = cli.run("tls-config", "update", "--id", conf_id, "--name", "named by cli").stdout
    assert conf_id in out
    assert field(cli.json("tls-config", "describe", "--id", conf_id), "Name") == "named by cli"
    assert as_dict(apis.configs.get_tls_config(conf_id))["data"]["attributes"]["name"] == "named by cli"
    paged = cli.json("tls-config", "list", "--page", "1", "--per-page", "5")
    assert [field(c, "ID") for c in paged] == [field(c, "ID") for c in configs][:5]


def test_cli_activation_enable_update_disable(cli, server, pki):
    apis = Apis(server.url, server.token)
    apis.create_key(pki.ec_leaf.key_pkcs8)
    apis.create_key(pki.ec_leaf2.key_pkcs8)
    cert1 = apis.create_cert(pki.ec_leaf.cert_pem, name="first")["id"]
    cert2 = apis.create_cert(pki.ec_leaf2.cert_pem, name="second")["id"]
    conf_id = apis.default_config()["id"]

    out = cli.run(
        "tls-custom", "activation", "enable",
        "--cert-id", cert1, "--tls-config-id", conf_id, "--tls-domain", "www.example.com",
    ).stdout
    acts = cli.json("tls-custom", "activation", "list")
    assert len(acts) == 1
    act_id = field(acts[0], "ID")
    assert act_id in out
    assert field(field(acts[0], "Certificate"), "ID") == cert1
    assert field(field(acts[0], "Domain"), "ID") == "www.example.com"
    assert field(field(acts[0], "Configuration"), "ID") == conf_id

    for flag, value in (
        ("--filter-cert", cert1),
        ("--filter-config", conf_id),
        ("--filter-domain", "www.example.com"),
    ):
        assert [field(a, "ID") for a in cli.json("tls-custom", "activation", "list", flag, value)] == [act_id]
    assert cli.json("tls-custom", "activation", "list", "--filter-cert", cert2) == []
    listed = cli.json("tls-custom", "activation", "list", "--include", "tls_certificate", "--page", "1", "--per-page", "10")
    assert [field(a, "ID") for a in listed] == [act_id]

    # Attach a mutual authentication with the Python client; the CLI (go-fastly) sees it.
    ma = apis.create_ma(pki.bundle(pki.client_ca), name="cli-visible")
    apis.set_activation_ma(act_id, ma_member(ma["id"]))
    desc = cli.json("tls-custom", "activation", "describe", "--id", act_id)
    assert field(field(desc, "MutualAuthentication"), "ID") == ma["id"]
    desc = cli.json("tls-custom", "activation", "describe", "--id", act_id, "--include", "tls_certificate", via_env=True)
    assert field(field(desc, "Certificate"), "ID") == cert1
    text = cli.run("tls-custom", "activation", "describe", "--id", act_id).stdout
    assert act_id in text

    # `activation update` swaps the certificate and, like the real API, detaches the mTLS
    # (the CLI sends mutual_authentication: {data: null}, which the real API takes as a detach).
    cli.run("tls-custom", "activation", "update", "--id", act_id, "--cert-id", cert2)
    got = as_dict(apis.acts.get_tls_activation(act_id))["data"]
    assert rel_id(got, "tls_certificate") == cert2
    assert rel_id(got, "mutual_authentication") is None
    assert rel_ids(as_dict(apis.ma.get_mutual_authentication(ma["id"]))["data"], "tls_activations") == []
    desc = cli.json("tls-custom", "activation", "describe", "--id", act_id)
    assert field(field(desc, "Certificate"), "ID") == cert2

    # A certificate in use cannot be deleted through the CLI either.
    proc = cli.run("tls-custom", "certificate", "delete", "--id", cert2, check=False)
    assert proc.returncode != 0
    assert "409" in proc.stdout + proc.stderr

    cli.run("tls-custom", "activation", "disable", "--id", act_id)
    assert cli.json("tls-custom", "activation", "list") == []
    assert as_dict(apis.acts.list_tls_activations())["data"] == []
    cli.run("tls-custom", "certificate", "delete", "--id", cert2)


def test_cli_wrong_token_is_rejected(cli, server):
    proc = cli.run("tls-custom", "private-key", "list", "-j", token="not-the-token", check=False)
    assert proc.returncode != 0
    assert "401" in proc.stdout + proc.stderr
