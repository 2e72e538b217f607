"""A WebSocket origin (the real `websockets` server) for the proxy's integration tests.

Prints one JSON object per line on stdout: `{"event": "ready", "port": N}` once listening on
127.0.0.1 (port 0: the OS picks), then `open` and `closed` events per connection (path,
close code and reason as this server saw them). Paths:

- `/headers…`: first sends the handshake request's headers as a JSON object, then echoes.
- `/close…`: waits for one message, then closes with code 4001 and reason `bye <message>`.
- anything else: echoes every message (text or binary) until the peer closes.

A client offering the `chat` subprotocol gets it. With `--cert`/`--key` it serves TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def headers_of(request) -> dict[str, str]:
    seen: dict[str, list[str]] = {}
    for name, value in request.headers.raw_items():
        seen.setdefault(name.lower(), []).append(value)
    return {name: ", ".join(values) for name, values in seen.items()}


def select_subprotocol(connection, offered):
    return "chat" if "chat" in offered else None


async def handler(ws) -> None:
    path = ws.request.path
    emit(event="open", path=path, subprotocol=ws.subprotocol)
    try:
        if path.startswith("/headers"):
            await ws.send(json.dumps(headers_of(ws.request)))
        if path.startswith("/close"):
            message = await ws.recv()
            await ws.close(4001, f"bye {message}")
        else:
            async for message in ws:
                await ws.send(message)
    except ConnectionClosed:
        pass
    emit(event="closed", path=path, code=ws.close_code, reason=ws.close_reason)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    async with serve(
        handler,
        "127.0.0.1",
        0,
        ssl=context,
        select_subprotocol=select_subprotocol,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        emit(event="ready", port=port)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
