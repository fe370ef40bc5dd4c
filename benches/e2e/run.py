#!/usr/bin/env python3
"""End-to-end load harness: Axon against nginx and HAProxy, same load, same run.

One command (see docs/benchmarks.md):

    python3 benches/e2e/run.py                 # every scenario, 3 reps x 10 s
    python3 benches/e2e/run.py --quick         # 1 rep x 3 s, a smoke run
    python3 benches/e2e/run.py --scenario passthrough-1k-c50 --reps 5

It installs nginx, HAProxy and wrk from Debian packages when they are missing, builds Axon in
release mode, starts the origin servers and every proxy on 127.0.0.1 (free ports chosen at run
time), drives each proxy with wrk with the same settings, alternating targets within each
repetition, and prints one table per scenario: requests/s, p50/p99/p99.9 latency, CPU seconds
of the proxy per 10k requests, peak RSS, and each as a ratio to nginx. Servers are pinned to
CPU 1 and wrk to CPU 0 (on machines with two or more CPUs), and every proxy runs one worker.

Stdlib only. Every process it starts is stopped by PID on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROCS: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(f"[e2e] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- setup

# tool (or file) -> the Debian package that brings it
TOOLS = {
    "nginx": "nginx",
    "haproxy": "haproxy",
    "wrk": "wrk",
    "h2load": "nghttp2-client",  # HTTP/2 load for the gRPC scenario
    "curl": "curl",  # checks that gRPC trailers come through
}
XSLT_MODULE = Path("/usr/lib/nginx/modules/ngx_http_xslt_filter_module.so")


def ensure_tools(install: bool) -> None:
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not XSLT_MODULE.exists():
        missing.append("libnginx-mod-http-xslt-filter")  # the XSLT peer of the SOAP scenario
    if not missing:
        return
    if not install:
        sys.exit(f"missing packages: {', '.join(missing)} (run without --no-install)")
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def build_axon() -> Path:
    log("building axon (release)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "axon"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "axon"


FLOOR_MODES = ("actix-awc", "actix-hyper", "hyper")


def build_helpers() -> Path:
    """The helper binary (benches/e2e/floor): the gRPC origin, and the floor proxies, which
    are same-run references for what a proxy on each stack costs with no mediation at all."""
    log("building the gRPC origin and the floor proxies (release)")
    floor = ROOT / "benches" / "e2e" / "floor"
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", str(floor / "Cargo.toml")],
                   cwd=floor, check=True, env=dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target" / "floor")))
    return ROOT / "target" / "floor" / "release" / "floor"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def start(cmd: list[str], **kw) -> subprocess.Popen:
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
    PROCS.append(p)
    return p


def stop_all() -> None:
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    for p in PROCS:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def wait_http(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> None:
    import urllib.request

    last = None
    for _ in range(300):
        try:
            req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200 and r.read():
                    return
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            last = error
        time.sleep(0.1)
    raise SystemExit(f"not answering: {url} ({last})")


# ----------------------------------------------------------------------------- /proc

def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def cpu_ticks(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def status_kb(pid: int, key: str) -> int:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


# ----------------------------------------------------------------------------- configs

NGINX_COMMON = """
worker_processes 1;
worker_rlimit_nofile 30000;
daemon off;
master_process on;
pid {run}/{name}.pid;
error_log {run}/{name}.error.log warn;
events {{ worker_connections 20000; multi_accept on; }}
http {{
  access_log off;
  server_tokens off;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_body_temp_path {run}/tmp-{name}-body;
  proxy_temp_path {run}/tmp-{name}-proxy;
  fastcgi_temp_path {run}/tmp-{name}-fcgi;
  uwsgi_temp_path {run}/tmp-{name}-uwsgi;
  scgi_temp_path {run}/tmp-{name}-scgi;
  {body}
}}
"""

ORIGIN_SERVER = """
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    root {www};
    sendfile on; tcp_nopush on; tcp_nodelay on; etag off;
    location / {{ try_files $uri =404; }}
    location = /echo {{ client_max_body_size 20m; client_body_buffer_size 1m; error_page 405 =200 /1k.bin; try_files /1k.bin =404; }}
    location = /soap12 {{ client_max_body_size 20m; client_body_buffer_size 1m; default_type application/soap+xml; error_page 405 =200 /soap12.xml; try_files /soap12.xml =404; }}
  }}
"""


@dataclass
class Ports:
    origins: list[int]
    dead: int
    nginx: int
    haproxy: int
    axon: int
    axon_admin: int
    grpc_origin: int = 0
    axon_grpc: int = 0
    nginx_grpc: int = 0
    haproxy_grpc: int = 0
    nginx_xslt: int = 0


GRPC_SERVICE = "/axon.bench.Echo"


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def proto_string(field: int, value: bytes) -> bytes:
    return bytes([field << 3 | 2, len(value)]) + value


# EchoRequest { message = "hello axon" } and EchoReply { message, server } of
# tests/proto/echo.proto, framed as gRPC messages.
GRPC_REQUEST = grpc_frame(proto_string(1, b"hello axon"))
GRPC_REPLY = grpc_frame(proto_string(1, b"hello axon") + proto_string(2, b"grpc-origin"))

def write_www(www: Path) -> None:
    www.mkdir(parents=True, exist_ok=True)
    (www / "1k.bin").write_bytes(b"x" * 1024)
    (www / "64k.bin").write_bytes(b"y" * 65536)
    orders = "".join(
        f"<m:order><m:symbol>SYM{i:03d}</m:symbol><m:quantity>{100 + i}</m:quantity></m:order>" for i in range(8)
    )
    (www / "soap12.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
        f'<soap:Body><m:orders xmlns:m="http://services.samples">{orders}</m:orders></soap:Body></soap:Envelope>'
    )
    for f in www.iterdir():
        f.chmod(0o644)
    www.chmod(0o755)


def soap11_request() -> bytes:
    orders = "".join(
        f"<m:order><m:symbol>SYM{i:03d}</m:symbol><m:quantity>{100 + i}</m:quantity></m:order>" for i in range(8)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soapenv:Body><m:orders xmlns:m="http://services.samples">{orders}</m:orders></soapenv:Body></soapenv:Envelope>'
    ).encode()


def nginx_proxy_conf(run: Path, p: Ports) -> str:
    o = p.origins
    body = f"""
  upstream single {{ server 127.0.0.1:{o[0]}; keepalive 128; keepalive_requests 1000000; }}
  upstream three {{ server 127.0.0.1:{o[0]}; server 127.0.0.1:{o[1]}; server 127.0.0.1:{o[2]}; keepalive 128; keepalive_requests 1000000; }}
  upstream failover {{ server 127.0.0.1:{p.dead} max_fails=1 fail_timeout=30s; server 127.0.0.1:{o[0]} backup; keepalive 128; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{p.nginx} reuseport backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout 2s;
    proxy_read_timeout 30s;
    location /pass/ {{ proxy_pass http://single/; }}
    location /lb/ {{ proxy_pass http://three/; }}
    location /fo/ {{ proxy_pass http://failover/; proxy_next_upstream error timeout; }}
  }}
  upstream grpc_origin {{ server 127.0.0.1:{p.grpc_origin}; keepalive 128; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{p.nginx_grpc} http2 backlog=4096;
    location / {{ grpc_pass grpc://grpc_origin; }}
  }}
"""
    return NGINX_COMMON.format(run=run, name="nginx-proxy", body=body)


def nginx_xslt_conf(run: Path, p: Ports) -> str:
    """The XSLT peer of the SOAP scenario: nginx proxying to the SOAP 1.2 origin and turning
    its response into SOAP 1.1 with libxslt. It does half of Axon's work (the request goes
    through unconverted): a reference for the cost of an XML transform, not an equal."""
    body = f"""
  upstream soap_origin {{ server 127.0.0.1:{p.origins[0]}; keepalive 128; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{p.nginx_xslt} reuseport backlog=4096;
    location = /soap/orders {{
      proxy_pass http://soap_origin/soap12;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      xslt_stylesheet {run}/soap12-to-soap11.xsl;
      xslt_types application/soap+xml;
    }}
  }}
"""
    return f"load_module {XSLT_MODULE};\n" + NGINX_COMMON.format(run=run, name="nginx-xslt", body=body)


SOAP12_TO_SOAP11_XSL = """<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:s12="http://www.w3.org/2003/05/soap-envelope"
    xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" exclude-result-prefixes="s12">
  <xsl:output method="xml" encoding="UTF-8" indent="no" media-type="text/xml"/>
  <xsl:template match="/s12:Envelope">
    <soapenv:Envelope><soapenv:Body><xsl:copy-of select="s12:Body/*"/></soapenv:Body></soapenv:Envelope>
  </xsl:template>
</xsl:stylesheet>
"""


def haproxy_conf(p: Ports) -> str:
    o = p.origins
    return f"""
global
    nbthread 1
    maxconn 9500
    tune.bufsize 16384
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 65s
    http-reuse always
frontend fe
    bind 127.0.0.1:{p.haproxy}
    maxconn 9500
    use_backend lb if {{ path_beg /lb/ }}
    use_backend fo if {{ path_beg /fo/ }}
    default_backend pass
backend pass
    http-request replace-path /pass/(.*) /\\1
    server o1 127.0.0.1:{o[0]} maxconn 4096
backend lb
    balance roundrobin
    http-request replace-path /lb/(.*) /\\1
    server o1 127.0.0.1:{o[0]} maxconn 4096
    server o2 127.0.0.1:{o[1]} maxconn 4096
    server o3 127.0.0.1:{o[2]} maxconn 4096
backend fo
    http-request replace-path /fo/(.*) /\\1
    retries 2
    option redispatch
    server dead 127.0.0.1:{p.dead} check inter 1s
    server o1 127.0.0.1:{o[0]} backup maxconn 4096
frontend fe_grpc
    bind 127.0.0.1:{p.haproxy_grpc} proto h2
    maxconn 9500
    default_backend grpc
backend grpc
    server g 127.0.0.1:{p.grpc_origin} proto h2 maxconn 4096
"""


def axon_mediation(dir: Path, p: Ports) -> dict[str, bool]:
    """Writes Axon's mediation folder. Scenario APIs that this build does not support yet are
    left out (checked with `axon check`); returns which scenario families are available."""
    o = p.origins
    apis = dir / "apis"
    apis.mkdir(parents=True, exist_ok=True)
    (apis / "pass.xml").write_text(
        f"""<api name="Pass" context="/pass"><resource url-mapping="/*"><inSequence>
  <send><endpoint name="origin"><address uri="http://127.0.0.1:{o[0]}"/></endpoint></send>
</inSequence></resource></api>"""
    )
    optional = {
        "lb": f"""<api name="Lb" context="/lb"><resource url-mapping="/*"><inSequence><send><endpoint name="three"><loadbalance algorithm="org.apache.synapse.endpoints.algorithms.RoundRobin">
  <endpoint name="o1"><address uri="http://127.0.0.1:{o[0]}"/></endpoint>
  <endpoint name="o2"><address uri="http://127.0.0.1:{o[1]}"/></endpoint>
  <endpoint name="o3"><address uri="http://127.0.0.1:{o[2]}"/></endpoint>
</loadbalance></endpoint></send></inSequence></resource></api>""",
        "fo": f"""<api name="Fo" context="/fo"><resource url-mapping="/*"><inSequence><send><endpoint name="failover"><failover>
  <endpoint name="dead"><address uri="http://127.0.0.1:{p.dead}"><suspendOnFailure><initialDuration>30000</initialDuration></suspendOnFailure></address></endpoint>
  <endpoint name="backup"><address uri="http://127.0.0.1:{o[0]}"/></endpoint>
</failover></endpoint></send></inSequence></resource></api>""",
        "wrr": f"""<api name="Wrr" context="/wrr"><resource url-mapping="/*"><inSequence><send><endpoint name="weighted"><loadbalance algorithm="weightedRoundRobin">
  <endpoint name="w1"><address uri="http://127.0.0.1:{o[0]}"/><property name="loadbalance.weight" value="1"/></endpoint>
  <endpoint name="w2"><address uri="http://127.0.0.1:{o[1]}"/><property name="loadbalance.weight" value="2"/></endpoint>
  <endpoint name="w3"><address uri="http://127.0.0.1:{o[2]}"/><property name="loadbalance.weight" value="3"/></endpoint>
</loadbalance></endpoint></send></inSequence></resource></api>""",
        "nested": f"""<api name="Nested" context="/nested"><resource url-mapping="/*"><inSequence><send><endpoint name="nested"><loadbalance>
  <endpoint name="nfo1"><failover><endpoint name="n1"><address uri="http://127.0.0.1:{o[0]}"/></endpoint><endpoint name="n2"><address uri="http://127.0.0.1:{o[1]}"/></endpoint></failover></endpoint>
  <endpoint name="nfo2"><failover><endpoint name="n3"><address uri="http://127.0.0.1:{o[2]}"/></endpoint><endpoint name="n4"><address uri="http://127.0.0.1:{o[0]}"/></endpoint></failover></endpoint>
</loadbalance></endpoint></send></inSequence></resource></api>""",
        "fopost": f"""<api name="FoPost" context="/fopost"><resource url-mapping="/*"><inSequence><send><endpoint name="fopost"><failover>
  <endpoint name="fp1"><address uri="http://127.0.0.1:{o[0]}"/></endpoint>
  <endpoint name="fp2"><address uri="http://127.0.0.1:{o[1]}"/></endpoint>
</failover></endpoint></send></inSequence></resource></api>""",
        "grpc": f"""<api name="Grpc" context="{GRPC_SERVICE}" transports="grpc"><resource url-mapping="/*"><inSequence>
  <send><endpoint name="grpc-origin"><grpc uri="http://127.0.0.1:{p.grpc_origin}"/></endpoint></send>
</inSequence></resource></api>""",
        "soap": f"""<api name="Soap" context="/soap"><resource methods="POST" url-mapping="/*"><inSequence><send><endpoint name="soap12">
  <address uri="http://127.0.0.1:{o[0]}/soap12" format="soap12"/></endpoint></send></inSequence></resource></api>""",
    }
    available = {}
    for name, xml in optional.items():
        probe = Path(tempfile.mkdtemp(prefix="axon-probe-"))
        (probe / "a.xml").write_text(xml)
        ok = subprocess.run([str(AXON), "check", str(probe)], capture_output=True).returncode == 0
        shutil.rmtree(probe)
        available[name] = ok
        if ok:
            (apis / f"{name}.xml").write_text(xml)
        else:
            log(f"scenario family '{name}' is not supported by this build of Axon; skipped")
    return available


# ----------------------------------------------------------------------------- load

WRK_SCRIPT = """
local method, body, ctype = os.getenv("WRK_METHOD"), os.getenv("WRK_BODY_FILE"), os.getenv("WRK_CTYPE")
if method and method ~= "" then wrk.method = method end
if body and body ~= "" then local f = io.open(body, "rb"); wrk.body = f:read("*a"); f:close() end
if ctype and ctype ~= "" then wrk.headers["Content-Type"] = ctype end
local statuses = {}
response = function(status, headers, b)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  io.write(string.format("PCTL %d %d %d %d %d\\n", latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.requests, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.status + summary.errors.timeout))
end
"""


@dataclass
class Scenario:
    name: str
    path: str
    conns: int
    family: str = "pass"
    method: str = ""
    body: bytes = b""
    ctype: str = ""
    targets: tuple[str, ...] = ("nginx", "haproxy", "axon")
    protocol: str = "http"  # "grpc": h2c unary calls driven by h2load


@dataclass
class Result:
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    p999: list[float] = field(default_factory=list)
    cpu_per_10k: list[float] = field(default_factory=list)
    errors: int = 0
    peak_rss_kb: int = 0


def run_wrk(url: str, sc: Scenario, seconds: int, script: Path, body_file: Path, cli_pin: list[str]) -> tuple[float, float, float, float, int, int]:
    env = dict(os.environ, WRK_METHOD=sc.method, WRK_BODY_FILE=str(body_file) if sc.body else "", WRK_CTYPE=sc.ctype)
    threads = 2 if sc.conns >= 200 else 1
    out = subprocess.run(
        [*cli_pin, "wrk", f"-t{threads}", f"-c{sc.conns}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, env=env, timeout=seconds + 60,
    ).stdout
    m = re.search(r"PCTL (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or not rps:
        raise SystemExit(f"wrk output not understood:\n{out}")
    errors = int(m.group(5)) + (int(non2xx.group(1)) if non2xx else 0)
    return float(rps.group(1)), int(m.group(1)) / 1000, int(m.group(2)) / 1000, int(m.group(3)) / 1000, int(m.group(4)), errors


def run_h2load(url: str, sc: Scenario, seconds: int, body_file: Path, cli_pin: list[str],
               run: Path) -> tuple[float, float, float, float, int, int]:
    """gRPC unary calls with h2load: `sc.conns` HTTP/2 connections, one call in flight on
    each (as wrk keeps one request in flight per connection). Latency percentiles come from
    h2load's per-request log."""
    log_file = run / "h2load.log"
    log_file.unlink(missing_ok=True)
    out = subprocess.run(
        [*cli_pin, "h2load", "-D", str(seconds), "-c", str(sc.conns), "-m", "1", "-t", "1",
         "-d", str(body_file), "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"--log-file={log_file}", url],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    rps = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    if not rps or not done:
        raise SystemExit(f"h2load output not understood:\n{out}")
    durations = sorted(int(line.split()[2]) for line in log_file.read_text().splitlines() if line.strip())

    def pct(q: float) -> float:
        return durations[min(len(durations) - 1, int(q / 100 * len(durations)))] / 1000 if durations else float("nan")

    errors = int(done.group(3)) + int(done.group(4)) + int(done.group(5))
    return float(rps.group(1)), pct(50), pct(99), pct(99.9), int(done.group(1)), errors


def check_grpc(name: str, url: str, body_file: Path) -> None:
    """One call with curl: the reply must be the origin's message with `grpc-status: 0`."""
    out = subprocess.run(
        ["curl", "-sv", "--http2-prior-knowledge", "-H", "content-type: application/grpc", "-H", "te: trailers",
         "--data-binary", f"@{body_file}", "-o", "-", url],
        capture_output=True, timeout=10,
    )
    if out.stdout != GRPC_REPLY or b"< grpc-status: 0" not in out.stderr:
        raise SystemExit(f"gRPC check failed for {name} ({url}): {out.stdout!r}\n{out.stderr.decode(errors='replace')[-800:]}")


def idle_memory(pid: int, port: int, path: str, n: int, run: Path) -> float:
    before = status_kb(pid, "VmRSS")
    ready = run / f"idle.{port}.ready"
    helper = ROOT / "benches" / "e2e" / "idle_conns.py"
    p = start([sys.executable, str(helper), "127.0.0.1", str(port), str(n), "20", path, str(ready)])
    for _ in range(600):
        if ready.exists() and ready.read_text().strip():
            break
        time.sleep(0.1)
    time.sleep(1)
    after = status_kb(pid, "VmRSS")
    opened = int(ready.read_text().split()[1]) if ready.exists() else 0
    p.terminate()
    p.wait()
    time.sleep(1)
    return (after - before) / opened if opened else float("nan")


# ----------------------------------------------------------------------------- main

def main() -> None:
    global AXON
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 rep x 3 s per target: a smoke run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--scenario", action="append", help="run only these scenarios (repeatable)")
    ap.add_argument("--idle-conns", type=int, default=10000, help="idle connections for the memory test (0: skip)")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--floor", action="store_true",
                    help="also run minimal proxies (actix-web+awc, actix-web+hyper client, hyper+hyper) "
                         "in the pass-through scenarios")
    ap.add_argument("--axon-b", type=Path, metavar="BINARY",
                    help="also run this second Axon build as target 'axon-b' (A/B comparison in the same run)")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration, args.idle_conns = 1, 3, min(args.idle_conns, 2000)

    ensure_tools(not args.no_install)
    AXON = build_axon()
    helpers = build_helpers()
    ncpu = os.cpu_count() or 1
    srv_pin = [] if args.no_pin or ncpu < 2 else pin("1")
    cli_pin = [] if args.no_pin or ncpu < 2 else pin("0")

    run = Path(tempfile.mkdtemp(prefix="axon-e2e-"))
    run.chmod(0o755)  # nginx workers run as an unprivileged user and must read www/
    try:
        ports = Ports(origins=[free_port() for _ in range(3)], dead=free_port(), nginx=free_port(),
                      haproxy=free_port(), axon=free_port(), axon_admin=free_port(),
                      grpc_origin=free_port(), axon_grpc=free_port(), nginx_grpc=free_port(),
                      haproxy_grpc=free_port(), nginx_xslt=free_port())
        axon_b_ports = (free_port(), free_port(), free_port())
        www = run / "www"
        write_www(www)
        origin_conf = NGINX_COMMON.format(run=run, name="origin", body="".join(
            ORIGIN_SERVER.format(port=p, www=www) for p in ports.origins))
        (run / "origin.conf").write_text(origin_conf)
        (run / "nginx-proxy.conf").write_text(nginx_proxy_conf(run, ports))
        (run / "haproxy.cfg").write_text(haproxy_conf(ports))
        (run / "nginx-xslt.conf").write_text(nginx_xslt_conf(run, ports))
        (run / "soap12-to-soap11.xsl").write_text(SOAP12_TO_SOAP11_XSL)
        med = run / "mediation"
        available = axon_mediation(med, ports)

        pids: dict[str, int] = {}
        # The origins get their own CPU budget only on machines with 3+ CPUs; on 2 CPUs
        # they share CPU 1 with the proxy under test, exactly as in the peer kit.
        pids["origin"] = start([*srv_pin, "nginx", "-c", str(run / "origin.conf")]).pid
        pids["grpc-origin"] = start([*srv_pin, str(helpers), "grpc-origin", f"127.0.0.1:{ports.grpc_origin}"]).pid
        pids["nginx"] = start([*srv_pin, "nginx", "-c", str(run / "nginx-proxy.conf")]).pid
        pids["haproxy"] = start([*srv_pin, "haproxy", "-db", "-f", str(run / "haproxy.cfg")]).pid
        pids["nginx-xslt"] = start([*srv_pin, "nginx", "-c", str(run / "nginx-xslt.conf")]).pid
        axon_env = dict(os.environ, AXON_LOG=os.environ.get("AXON_BENCH_LOG", "warn"))
        pids["axon"] = start([*srv_pin, str(AXON), "serve", "--mediation", str(med), "--bind", "127.0.0.1",
                              "--http-port", str(ports.axon), "--management-port", str(ports.axon_admin),
                              "--grpc-port", str(ports.axon_grpc), "--workers", "1"], env=axon_env).pid
        base = {"nginx": ports.nginx, "haproxy": ports.haproxy, "axon": ports.axon}
        grpc_base = {"nginx": ports.nginx_grpc, "haproxy": ports.haproxy_grpc, "axon": ports.axon_grpc}
        if args.axon_b:
            pids["axon-b"] = start([*srv_pin, str(args.axon_b.resolve()), "serve", "--mediation", str(med),
                                    "--bind", "127.0.0.1", "--http-port", str(axon_b_ports[0]),
                                    "--management-port", str(axon_b_ports[1]), "--grpc-port", str(axon_b_ports[2]),
                                    "--workers", "1"],
                                   env=axon_env).pid
            base["axon-b"] = axon_b_ports[0]
            grpc_base["axon-b"] = axon_b_ports[2]
        floor_targets: tuple[str, ...] = ()
        if args.floor:
            for mode in FLOOR_MODES:
                port = free_port()
                pids[f"floor-{mode}"] = start([*srv_pin, str(helpers), mode, f"127.0.0.1:{port}",
                                               f"127.0.0.1:{ports.origins[0]}"]).pid
                base[f"floor-{mode}"] = port
                floor_targets += (f"floor-{mode}",)
        for o in ports.origins:
            wait_http(f"http://127.0.0.1:{o}/1k.bin")
        for name, port in base.items():
            if name.startswith("floor-"):
                wait_http(f"http://127.0.0.1:{port}/1k.bin")
                continue
            wait_http(f"http://127.0.0.1:{port}/pass/1k.bin")
            if available.get("lb") or not name.startswith("axon"):
                wait_http(f"http://127.0.0.1:{port}/lb/1k.bin")
            if available.get("fo") or not name.startswith("axon"):
                wait_http(f"http://127.0.0.1:{port}/fo/1k.bin")
        grpc_request = run / "grpc-request.bin"
        grpc_request.write_bytes(GRPC_REQUEST)
        if available.get("grpc"):
            for name, port in grpc_base.items():
                check_grpc(name, f"http://127.0.0.1:{port}{GRPC_SERVICE}/Unary", grpc_request)
        # Byte-identical pass-through.
        import urllib.request
        ref = (www / "64k.bin").read_bytes()
        for name, port in base.items():
            path = "/64k.bin" if name.startswith("floor-") else "/pass/64k.bin"
            got = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").read()
            if got != ref:
                raise SystemExit(f"{name} returned a different 64 KiB body")

        soap_body = soap11_request()
        if available.get("soap"):
            soap_headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '"urn:orders"'}
            for port in (ports.axon, ports.nginx_xslt):
                wait_http(f"http://127.0.0.1:{port}/soap/orders", "POST", soap_body, soap_headers)
        scenarios = [
            Scenario("passthrough-1k-c50", "/pass/1k.bin", 50),
            Scenario("passthrough-1k-c500", "/pass/1k.bin", 500),
            Scenario("passthrough-64k-c50", "/pass/64k.bin", 50),
            Scenario("passthrough-64k-c500", "/pass/64k.bin", 500),
            Scenario("loadbalance-3-1k-c50", "/lb/1k.bin", 50, family="lb"),
            Scenario("failover-dead-primary-1k-c50", "/fo/1k.bin", 50, family="fo"),
            # Groups beyond the peers' equivalents, against Axon's own pass-through.
            Scenario("weighted-3-1k-c50", "/wrr/1k.bin", 50, family="wrr", targets=("axon",)),
            Scenario("nested-groups-1k-c50", "/nested/1k.bin", 50, family="nested", targets=("axon",)),
            Scenario("post-1k-c50", "/pass/echo", 50, method="POST", body=b"p" * 1024,
                     ctype="application/octet-stream", targets=("axon",)),
            Scenario("failover-post-1k-c50", "/fopost/echo", 50, family="fopost", method="POST",
                     body=b"p" * 1024, ctype="application/octet-stream", targets=("axon",)),
            # nginx-xslt converts the response only (libxslt), Axon both ways: see nginx_xslt_conf.
            Scenario("soap11-to-soap12-c50", "/soap/orders", 50, family="soap", method="POST",
                     body=soap_body, ctype='text/xml; charset=UTF-8', targets=("nginx-xslt", "axon")),
            Scenario("grpc-unary-c50", f"{GRPC_SERVICE}/Unary", 50, family="grpc", body=GRPC_REQUEST,
                     protocol="grpc"),
        ]
        if args.scenario:
            scenarios = [s for s in scenarios if s.name in args.scenario]
        script = run / "wrk.lua"
        script.write_text(WRK_SCRIPT)
        body_file = run / "body.bin"

        results: dict[str, dict[str, Result]] = {}
        for sc in scenarios:
            if sc.family != "pass" and not available.get(sc.family, False):
                continue
            body_file.write_bytes(sc.body)
            targets = sc.targets + (("axon-b",) if args.axon_b and "axon" in sc.targets else ())
            if sc.name.startswith("passthrough-") and sc.method == "":
                targets += floor_targets
            res = {t: Result() for t in targets}
            ports_of = grpc_base if sc.protocol == "grpc" else dict(base, **{"nginx-xslt": ports.nginx_xslt})

            def drive(t: str, seconds: int):
                # The floor proxies forward every path as it is (no API context to strip).
                path = sc.path.removeprefix("/pass") if t.startswith("floor-") else sc.path
                url = f"http://127.0.0.1:{ports_of[t]}{path}"
                if sc.protocol == "grpc":
                    return run_h2load(url, sc, seconds, body_file, cli_pin, run)
                return run_wrk(url, sc, seconds, script, body_file, cli_pin)

            for t in targets:  # warm-up
                drive(t, 2)
            for rep in range(args.reps):
                for t in targets:
                    c0 = cpu_ticks(pids[t])
                    rps, p50, p99, p999, reqs, errors = drive(t, args.duration)
                    c1 = cpu_ticks(pids[t])
                    r = res[t]
                    r.rps.append(rps); r.p50.append(p50); r.p99.append(p99); r.p999.append(p999)
                    r.cpu_per_10k.append((c1 - c0) / CLK_TCK / max(reqs, 1) * 10_000)
                    r.errors += errors
                    r.peak_rss_kb = max(r.peak_rss_kb, status_kb(pids[t], "VmHWM"))
                    log(f"{sc.name} rep {rep + 1} {t}: {rps:.0f} req/s p50 {p50:.2f} ms p99 {p99:.2f} ms"
                        + (f" ({errors} errors)" if errors else ""))
            results[sc.name] = res

        idle = {}
        if args.idle_conns:
            for t in ("nginx", "haproxy", "axon", *(("axon-b",) if args.axon_b else ()), *floor_targets):
                path = "/1k.bin" if t.startswith("floor-") else "/pass/1k.bin"
                idle[t] = idle_memory(pids[t], base[t], path, args.idle_conns, run)
                log(f"idle {t}: {idle[t]:.2f} KiB per connection")

        print_report(results, idle, args, ncpu, bool(srv_pin))
        if args.json:
            args.json.write_text(json.dumps({
                "scenarios": {s: {t: r.__dict__ for t, r in v.items()} for s, v in results.items()},
                "idle_kib_per_conn": idle,
            }, indent=2))
    finally:
        stop_all()
        shutil.rmtree(run, ignore_errors=True)


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def print_report(results, idle, args, ncpu, pinned) -> None:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "?")
    print(f"\n# e2e: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {ncpu} CPU {cpu}")
    print(f"# wrk, keep-alive, loopback; medians of {args.reps} x {args.duration} s; "
          + ("servers pinned to CPU 1, wrk to CPU 0; " if pinned else "unpinned; ")
          + "one worker per proxy; Axon with AXON_LOG=warn")
    for name, res in results.items():
        print(f"\n## {name}\n")
        print("| target | req/s | p50 ms | p99 ms | p99.9 ms | CPU s/10k req | peak RSS MiB | req/s vs nginx | p99 vs nginx | errors |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        # The reference is nginx, or its XSLT configuration in the SOAP scenario.
        ref = res.get("nginx") or res.get("nginx-xslt")
        for t, r in res.items():
            ratio = f"{med(r.rps) / med(ref.rps):.2f}" if ref else "-"
            p99r = f"{med(r.p99) / med(ref.p99):.2f}" if ref and med(ref.p99) > 0 else "-"
            print(f"| {t} | {med(r.rps):.0f} | {med(r.p50):.2f} | {med(r.p99):.2f} | {med(r.p999):.2f} | "
                  f"{med(r.cpu_per_10k):.3f} | {r.peak_rss_kb / 1024:.1f} | {ratio} | {p99r} | {r.errors} |")
    if idle:
        print("\n## memory per idle connection\n")
        print("| target | KiB per idle connection |")
        print("|---|---|")
        for t, v in idle.items():
            print(f"| {t} | {v:.2f} |")


AXON: Path

if __name__ == "__main__":
    main()
