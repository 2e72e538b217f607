"""A gRPC origin (the real `grpcio` server) for the proxy's integration tests.

Serves the service `test.Echo` with raw-bytes methods (no generated code):

- `Unary`: the request is a JSON object. `{"echo": S}` answers JSON with `echo`, the request
  metadata as the server saw it (`metadata`) and the client certificate's common name when the
  origin's TLS asked for one (`peer_cn`); initial metadata `x-initial: yes`, trailing metadata
  `x-trailer: t-S`. `"fail": {"code": NAME, "details": D}` aborts with that status after setting
  the same trailing metadata; `"sleep": SECONDS` delays the answer.
- `Bidi`: answers every message `M` with `echo:M` as soon as it arrives; trailing metadata
  `x-count: N`.

Prints `{"event": "ready", "port": N}` once listening on 127.0.0.1 (h2c; or TLS with `--cert`,
`--key`, and with `--client-ca` verifying client certificates, required with `--require-client`).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent import futures

import grpc


def metadata_of(context) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}


def peer_cn(context) -> str | None:
    names = context.auth_context().get("x509_common_name")
    return names[0].decode() if names else None


def unary(request: bytes, context) -> bytes:
    command = json.loads(request)
    if "sleep" in command:
        time.sleep(command["sleep"])
    echo = command.get("echo", "")
    context.send_initial_metadata((("x-initial", "yes"),))
    context.set_trailing_metadata((("x-trailer", f"t-{echo}"),))
    fail = command.get("fail")
    if fail:
        context.abort(grpc.StatusCode[fail["code"]], fail["details"])
    answer = {"echo": echo, "metadata": metadata_of(context), "peer_cn": peer_cn(context)}
    return json.dumps(answer).encode()


def bidi(requests, context):
    count = 0
    for message in requests:
        count += 1
        yield b"echo:" + message
    context.set_trailing_metadata((("x-count", str(count)),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--client-ca")
    parser.add_argument("--require-client", action="store_true")
    args = parser.parse_args()
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    if args.cert:
        read = lambda path: open(path, "rb").read()  # noqa: E731
        credentials = grpc.ssl_server_credentials(
            [(read(args.key), read(args.cert))],
            root_certificates=read(args.client_ca) if args.client_ca else None,
            require_client_auth=args.require_client,
        )
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(json.dumps({"event": "ready", "port": port}), flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
