#!/usr/bin/env python3
"""Holds N idle keep-alive HTTP/1.1 connections open, each after one completed GET, so the
caller can read the server's memory growth.

Usage: idle_conns.py HOST PORT N HOLD_SECONDS PATH READY_FILE
Writes "READY <opened> failed=<n>" to READY_FILE once every connection is idle.
"""
import asyncio
import resource
import sys


async def open_one(host: str, port: int, path: str, held: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0)
    if length:
        await reader.readexactly(length)
    held.append((reader, writer))


async def main() -> None:
    host, port, n, hold, path, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 1024)), hard))
    held: list = []
    failed = 0
    for start in range(0, n, 500):
        results = await asyncio.gather(*(open_one(host, port, path, held) for _ in range(min(500, n - start))), return_exceptions=True)
        failed += sum(isinstance(r, Exception) for r in results)
    with open(ready, "w") as f:
        f.write(f"READY {len(held)} failed={failed}\n")
    await asyncio.sleep(hold)
    for _, writer in held:
        writer.close()


asyncio.run(main())
