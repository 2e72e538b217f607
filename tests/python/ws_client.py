"""A WebSocket client (the real `websockets` client) for the proxy's integration tests.

Connects to `wss://NAME:PORT/PATH` through 127.0.0.1 (SNI and Host are NAME), trusting
`--ca` and presenting `--cert`/`--key`, then runs a scenario and prints JSON lines:

- `echo`: on `/headers`, reads the origin's view of the handshake headers, echoes a text and a
  binary message, and closes (code 1000). Prints one result object.
- `origin-closes`: sends one message to `/close` and reports the close code and reason the
  origin sent.
- `hold`: opens, prints `{"event": "open"}`, then obeys stdin: `echo TEXT` sends TEXT and
  prints `{"event": "echo", "text": ...}` (or a `closed` event); `wait` waits up to 20 s for the
  connection to close and prints `{"event": "closed", ...}` or `{"event": "still-open"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def closed_event(ws) -> dict:
    return {"event": "closed", "code": ws.close_code, "reason": ws.close_reason}


async def echo(ws) -> None:
    headers = json.loads(await ws.recv())
    await ws.send("hello through the proxy")
    text = await ws.recv()
    await ws.send(b"\x00\x01binary\xff")
    binary = await ws.recv()
    await ws.close(1000, "done")
    emit(
        event="result",
        headers=headers,
        text=text,
        binary=list(binary),
        subprotocol=ws.subprotocol,
        close_code=ws.close_code,
    )


async def origin_closes(ws) -> None:
    await ws.send("x")
    try:
        await ws.recv()
        emit(event="unexpected-message")
    except ConnectionClosed as e:
        rcvd = e.rcvd
        emit(event="closed", code=rcvd.code if rcvd else None, reason=rcvd.reason if rcvd else None)


async def hold(ws) -> None:
    await ws.send("before")
    assert await ws.recv() == "before"
    emit(event="open")
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        command, _, text = line.strip().partition(" ")
        if command == "echo":
            try:
                await ws.send(text)
                emit(event="echo", text=await ws.recv())
            except ConnectionClosed:
                emit(**closed_event(ws))
        elif command == "wait":
            try:
                await asyncio.wait_for(ws.wait_closed(), 20)
                emit(**closed_event(ws))
            except asyncio.TimeoutError:
                emit(event="still-open")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["echo", "origin-closes", "hold"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--subprotocol", action="append", default=[])
    parser.add_argument("--header", action="append", default=[], help="NAME:VALUE")
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    headers = [tuple(h.split(":", 1)) for h in args.header]
    async with connect(
        f"wss://{args.name}:{args.port}{args.path}",
        ssl=context,
        host="127.0.0.1",
        port=args.port,
        server_hostname=args.name,
        additional_headers=headers,
        subprotocols=args.subprotocol or None,
        proxy=None,
        open_timeout=10,
        close_timeout=5,
        ping_interval=None,
    ) as ws:
        await {"echo": echo, "origin-closes": origin_closes, "hold": hold}[args.scenario](ws)


if __name__ == "__main__":
    asyncio.run(main())
