#!/usr/bin/env python3
"""Grow the activation table through the admin API and print the write latency per size.

One client, sequential writes over one keep-alive connection, release build, logs at warn:

    python3 benches/grow_table.py                       # sizes 1000,10000,100000
    python3 benches/grow_table.py --sizes 1000,10000    # quicker

Steps: make a throwaway PKI with openssl (a wildcard server certificate for *.grow.test, a
client CA and a client certificate), start `mtls-proxy serve` on a fresh store, upload the key
and certificate, create an enforced mutual authentication, then create activations
d0.grow.test, d1.grow.test, ... one POST at a time, timing each. At every size it prints the
latency of the writes since the previous size, the resident memory per activation, the time of
the last page of GET /tls/activations, and times attach/detach PATCHes of random activations,
checking after each 2xx that the very next handshake sees it (attached: a client without a
certificate is refused; detached: it is served). At the end it restarts the proxy on the same
store and times until it serves again. Only the Python standard library and openssl are used.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

TOKEN = "grow-table-bench-token"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(*args, cwd=None):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki(d):
    """Server CA + *.grow.test certificate, client CA + client certificate (ECDSA P-256)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("server-ca", "client-ca"):
        run("openssl", "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
            "-days", "30", "-subj", f"/CN=grow {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    leaves = (("server", "server-ca", "subjectAltName=DNS:*.grow.test\nextendedKeyUsage=serverAuth"),
              ("client", "client-ca", "extendedKeyUsage=clientAuth"))
    for leaf, ca, ext in leaves:
        run("openssl", "req", *ec, "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr",
            "-subj", f"/CN=grow {leaf}", cwd=d)
        with open(os.path.join(d, f"{leaf}.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" + ext + "\n")
        run("openssl", "x509", "-req", "-in", f"{leaf}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "30", "-extfile", f"{leaf}.ext", "-out", f"{leaf}.pem", cwd=d)


class Proxy:
    def __init__(self, binary, d):
        self.binary, self.d = binary, d
        self.admin, self.tls = free_port(), free_port()
        self.config = os.path.join(d, "config.toml")
        with open(self.config, "w") as f:
            f.write(f'[admin]\nlisten = "127.0.0.1:{self.admin}"\ntoken = "{TOKEN}"\n'
                    f'[store]\npath = "{d}/store/db.sqlite"\n'
                    f'[proxy]\nlisten = "127.0.0.1:{self.tls}"\n[log]\nlevel = "warn"\n')
        self.proc = None

    def start(self):
        started = time.perf_counter()
        self.proc = subprocess.Popen([self.binary, "serve", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.d, "proxy.log"), "a"))
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"mtls-proxy exited ({self.proc.returncode}); see {self.d}/proxy.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=5)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.01)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class Api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Fastly-Key": TOKEN, "Content-Type": "application/vnd.api+json"}
        data = json.dumps(body) if body is not None else None
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        took = time.perf_counter() - started
        if resp.status >= 300:
            sys.exit(f"{method} {path}: {resp.status} {raw[:300]!r}")
        return (json.loads(raw) if raw else None), took


def handshake_status(d, port, host, client_cert):
    """Status of one GET over a fresh TLS connection, or None when refused."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(d, "server-ca.pem"))
    if client_cert:
        ctx.load_cert_chain(os.path.join(d, "client.pem"), os.path.join(d, "client.key"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                first = s.recv(64)
                if not first.startswith(b"HTTP/1.1 "):
                    return None
                return int(first.split()[1])
    except (ssl.SSLError, ConnectionError, OSError):
        return None


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def ms(v):
    return f"{v * 1000:.2f}"


def activation(cert_id, i):
    return {"data": {"type": "tls_activation", "relationships": {
        "tls_certificate": {"data": {"type": "tls_certificate", "id": cert_id}},
        "tls_domain": {"data": {"type": "tls_domain", "id": f"d{i}.grow.test"}}}}}


def attach_body(aid, ma):
    member = {"type": "mutual_authentication", "id": ma} if ma else None
    return {"data": {"type": "tls_activation", "id": aid,
                     "relationships": {"mutual_authentication": {"data": member}}}}


def changes_at_size(api, proxy, d, ids, ma, count):
    """Attach/detach `count` random activations; after each 2xx the next handshake must see it."""
    took, unseen = [], 0
    for _ in range(count):
        i = random.randrange(len(ids))
        host = f"d{i}.grow.test"
        _, t = api.call("PATCH", f"/tls/activations/{ids[i]}", attach_body(ids[i], ma))
        took.append(t)
        if handshake_status(d, proxy.tls, host, client_cert=False) is not None:
            unseen += 1
        if handshake_status(d, proxy.tls, host, client_cert=True) != 200:
            unseen += 1
        _, t = api.call("PATCH", f"/tls/activations/{ids[i]}", attach_body(ids[i], None))
        took.append(t)
        if handshake_status(d, proxy.tls, host, client_cert=False) != 200:
            unseen += 1
    return took, unseen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--changes", type=int, default=100, help="attach/detach pairs timed at each size")
    ap.add_argument("--binary", default=os.path.join(REPO, "target/release/mtls-proxy"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--dir", default=None,
                    help="where the throwaway PKI and store go (default: the system temp dir); "
                         "a tmpfs such as /dev/shm takes the disk's flush time out of each write")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if not args.no_build:
        log("building release...")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    d = tempfile.mkdtemp(prefix="grow-table-", dir=args.dir)
    make_pki(d)
    proxy = Proxy(args.binary, d)
    proxy.start()
    api = Api(proxy.admin)
    read = lambda name: open(os.path.join(d, name)).read()
    api.call("POST", "/tls/private_keys", {"data": {"type": "tls_private_key", "attributes": {"key": read("server.key")}}})
    cert, _ = api.call("POST", "/tls/certificates", {"data": {"type": "tls_certificate", "attributes": {"cert_blob": read("server.pem")}}})
    cert_id = cert["data"]["id"]
    ma, _ = api.call("POST", "/tls/mutual_authentications", {"data": {"type": "mutual_authentication", "attributes": {"cert_bundle": read("client-ca.pem"), "enforced": True}}})
    ma_id = ma["data"]["id"]
    base_rss = proxy.rss_kib()
    print(f"# grow_table: {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} CPUs, sizes {sizes}, store {d}/store")
    print("| activations | writes | p50 ms | p90 ms | p99 ms | max ms | writes/s | RSS KiB/activation | last list page ms | attach/detach p50 ms | max ms | unseen |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ids, bracket, grow_started = [], [], time.perf_counter()
    bracket_started = grow_started
    for n in sizes:
        while len(ids) < n:
            doc, t = api.call("POST", "/tls/activations", activation(cert_id, len(ids)))
            ids.append(doc["data"]["id"])
            bracket.append(t)
            if len(ids) % 10000 == 0:
                log(f"  {len(ids)} activations, last 10000 p50 {ms(statistics.median(bracket[-10000:]))} ms")
        rate = len(bracket) / (time.perf_counter() - bracket_started)
        rss = (proxy.rss_kib() - base_rss) / n
        last = (n + 99) // 100
        _, list_took = api.call("GET", f"/tls/activations?page[number]={last}&page[size]=100")
        took, unseen = changes_at_size(api, proxy, d, ids, ma_id, args.changes)
        print(f"| {n} | {len(bracket)} | {ms(pct(bracket, 50))} | {ms(pct(bracket, 90))} | {ms(pct(bracket, 99))} "
              f"| {ms(max(bracket))} | {rate:.0f} | {rss:.1f} | {ms(list_took)} | {ms(pct(took, 50))} | {ms(max(took))} | {unseen} |",
              flush=True)
        bracket, bracket_started = [], time.perf_counter()
    total = time.perf_counter() - grow_started
    print(f"\n{len(ids)} activations created (plus the checks) in {total:.1f} s")
    proxy.stop()
    ready = proxy.start()
    t0 = time.perf_counter()
    status = handshake_status(d, proxy.tls, f"d{len(ids) - 1}.grow.test", client_cert=False)
    served = ready + (time.perf_counter() - t0)
    print(f"restart with {len(ids)} activations: ready in {ready:.2f} s, first handshake served "
          f"(status {status}) at {served:.2f} s; RSS {proxy.rss_kib() / len(ids):.1f} KiB per activation")
    proxy.stop()


if __name__ == "__main__":
    main()
