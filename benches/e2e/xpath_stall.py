#!/usr/bin/env python3
"""How long one large XPath request holds up the other clients of Axon's worker.

Starts AXON (a release binary) with one worker on an API whose resource counts the
payload's elements with XPath, then, while a client sends small requests to it back to
back on a keep-alive connection, posts ROUNDS large bodies of ELEMENTS tiny elements each
(within the default XML limits). Prints, per round, how long the large request took and
the longest wait of a small request meanwhile (the worker's stall), then the medians, and the large request's time with no other client.

Usage: xpath_stall.py AXON [ELEMENTS] [ROUNDS]
"""
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

API = """<api xmlns="http://ws.apache.org/ns/synapse" name="X" context="/xpath">
  <resource methods="POST"><inSequence>
    <property name="n" expression="count(//a)"/>
    <payloadFactory media-type="json"><format>{"n":$1}</format><args><arg expression="$ctx:n"/></args></payloadFactory>
    <respond/>
  </inSequence></resource></api>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid`, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(conn: http.client.HTTPConnection, body: bytes) -> bytes:
    conn.request("POST", "/xpath", body, {"Content-Type": "application/xml"})
    reply = conn.getresponse()
    data = reply.read()
    assert reply.status == 200, (reply.status, data[:200])
    return data


def main() -> None:
    axon = sys.argv[1]
    elements = int(sys.argv[2]) if len(sys.argv) > 2 else 1_400_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    folder = tempfile.mkdtemp()
    os.makedirs(f"{folder}/apis")
    with open(f"{folder}/apis/x.xml", "w") as f:
        f.write(API)
    port, admin = free_port(), free_port()
    server = subprocess.Popen(
        [axon, "serve", "--mediation", folder, "--http-port", str(port),
         "--management-port", str(admin), "--workers", "1", "--no-grpc"],
        env={**os.environ, "AXON_LOG": "warn"},
    )
    try:
        small = b"<r><a/><a/></r>"
        for _ in range(200):
            try:
                post(http.client.HTTPConnection("127.0.0.1", port, timeout=1), small)
                break
            except OSError:
                time.sleep(0.05)
        large = b"<r>" + b"<a/>" * elements + b"</r>"
        print(f"large body: {len(large) / 1e6:.1f} MB, {elements} elements")
        done = threading.Event()
        waits: list = []

        failures: list = []

        def ticker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            while not done.is_set():
                start = time.perf_counter()
                try:
                    post(conn, small)
                except (OSError, http.client.HTTPException) as error:
                    failures.append(repr(error))
                    conn = http.client.HTTPConnection("127.0.0.1", port)
                waits.append(time.perf_counter() - start)

        tick = threading.Thread(target=ticker)
        tick.start()
        time.sleep(2)
        done.set()
        tick.join()
        print(f"small requests alone: longest wait {max(waits) * 1000:.1f} ms over {len(waits)} requests")
        totals, stalls = [], []
        for round_ in range(rounds):
            done.clear()
            waits.clear()
            failures.clear()
            tick = threading.Thread(target=ticker)
            tick.start()
            time.sleep(0.2)
            conn = http.client.HTTPConnection("127.0.0.1", port)
            start = time.perf_counter()
            assert post(conn, large) == b'{"n":%d}' % elements
            total = time.perf_counter() - start
            done.set()
            tick.join()
            totals.append(total)
            stalls.append(max(waits))
            print(f"round {round_ + 1}: large request {total * 1000:.0f} ms, "
                  f"longest small-request wait {max(waits) * 1000:.1f} ms over {len(waits)} requests"
                  + (f", failed: {failures}" if failures else ""))
        print(f"median: large request {statistics.median(totals) * 1000:.0f} ms, "
              f"worker stall {statistics.median(stalls) * 1000:.1f} ms")
        alone = []
        cpu = cpu_seconds(server.pid)
        for _ in range(rounds):
            conn = http.client.HTTPConnection("127.0.0.1", port)
            start = time.perf_counter()
            post(conn, large)
            alone.append(time.perf_counter() - start)
        cpu = (cpu_seconds(server.pid) - cpu) / rounds
        print(f"large request alone (no other client): median {statistics.median(alone) * 1000:.0f} ms, "
              f"{cpu:.2f} CPU s each")
    finally:
        server.terminate()
        server.wait()


main()
