"""A gRPC client (the real `grpcio` client) for the proxy's integration tests.

Calls `test.Echo` (see grpc_origin.py) on the proxy at 127.0.0.1:PORT over TLS, with SNI NAME
and `:authority` NAME (or `--authority`), trusting `--ca` and presenting `--cert`/`--key`, and prints one JSON object:
the status code name, details, response, initial and trailing metadata.

- `unary REQUEST_JSON [--timeout S]`: one call.
- `bidi N`: a bidirectional stream in lock step: message `ping I` is only sent once the answer
  to the previous one arrived, so nothing on the way may hold messages back.
"""

from __future__ import annotations

import argparse
import json
import queue

import grpc


def channel(args) -> grpc.Channel:
    read = lambda path: open(path, "rb").read() if path else None  # noqa: E731
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key),
        certificate_chain=read(args.cert),
    )
    options = [
        ("grpc.ssl_target_name_override", args.name),
        ("grpc.default_authority", args.authority or args.name),
        ("grpc.enable_http_proxy", 0),
    ]
    return grpc.secure_channel(f"127.0.0.1:{args.port}", credentials, options=options)


def pairs(metadata) -> dict[str, str]:
    return {k: v for k, v in (metadata or ()) if isinstance(v, str)}


def outcome(code, details, initial, trailing, **extra) -> dict:
    return {
        "code": code.name,
        "details": details,
        "initial_metadata": pairs(initial),
        "trailing_metadata": pairs(trailing),
        **extra,
    }


def unary(ch: grpc.Channel, args) -> dict:
    call = ch.unary_unary("/test.Echo/Unary")
    metadata = [("x-client-meta", "m1"), ("client-cert-verdict", "forged")]
    try:
        response, c = call.with_call(args.request.encode(), metadata=metadata, timeout=args.timeout)
        return outcome(
            c.code(), c.details(), c.initial_metadata(), c.trailing_metadata(),
            response=json.loads(response),
        )
    except grpc.RpcError as e:
        return outcome(e.code(), e.details(), e.initial_metadata(), e.trailing_metadata())


def bidi(ch: grpc.Channel, args) -> dict:
    outbox: queue.Queue = queue.Queue()

    def requests():
        while (item := outbox.get()) is not None:
            yield item

    call = ch.stream_stream("/test.Echo/Bidi")(requests(), timeout=args.timeout)
    answers = []
    try:
        for i in range(args.count):
            outbox.put(f"ping {i}".encode())
            answers.append(next(call).decode())
        outbox.put(None)
        answers.extend(m.decode() for m in call)
    except grpc.RpcError:
        outbox.put(None)
    return outcome(
        call.code(), call.details(), call.initial_metadata(), call.trailing_metadata(),
        answers=answers,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--authority")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--timeout", type=float, default=20)
    sub = parser.add_subparsers(dest="scenario", required=True)
    sub.add_parser("unary").add_argument("request")
    sub.add_parser("bidi").add_argument("count", type=int)
    args = parser.parse_args()
    with channel(args) as ch:
        result = {"unary": unary, "bidi": bidi}[args.scenario](ch, args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
