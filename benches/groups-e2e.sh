#!/usr/bin/env bash
# groups-e2e.sh — what a failover or load-balance group costs per request, end to end.
#
# Starts an nginx origin (a fixed 1 KiB body, and POST /echo answering 1 KiB) and a release
# Axon (one worker) whose APIs reach that origin through:
#   /leaf      one <address> leaf                  (the baseline)
#   /rr        a round-robin group of three leaves
#   /wrr       a weighted round-robin group of three leaves (1:2:3)
#   /fo        a failover group (primary, secondary)
#   /nested    a round-robin group over two failover groups
# then drives each with wrk (GET, and POST of a 1 KiB body for /leaf and /fo, which makes
# the group keep the body for replay), REPS times, interleaved, and prints medians of
# req/s, p99 latency and Axon's CPU time per request (from /proc; steadier than req/s when
# other work shares the machine).
# Every process it starts is stopped by PID on exit.
#
# Usage:  cargo build --release && bash benches/groups-e2e.sh
# Env:    DURATION=5 CONNS=50 REPS=3 ORIGIN_PORT=28180 AXON_PORT=28190 ADMIN_PORT=28191
#         PIN=1 (axon and nginx on CPU 1, wrk on CPU 0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
REPS=${REPS:-3}
ORIGIN_PORT=${ORIGIN_PORT:-28180}
AXON_PORT=${AXON_PORT:-28190}
ADMIN_PORT=${ADMIN_PORT:-28191}
PIN=${PIN:-1}
AXON=${AXON:-target/release/axon}

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is needed (apt-get install nginx)" >&2; exit 1; }
[[ -x $AXON ]] || { echo "build first: cargo build --release" >&2; exit 1; }
SRV=(); CLI=()
if ((PIN)); then SRV=(taskset -c 1); CLI=(taskset -c 0); fi

RUN=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

mkdir -p "$RUN/www" "$RUN/logs" "$RUN/tmp" "$RUN/mediation"
head -c 1024 /dev/zero | tr '\0' 'x' > "$RUN/www/1k.bin"
chmod 0755 "$RUN" "$RUN/www"
cat > "$RUN/origin.conf" <<EOF
worker_processes 1;
daemon off;
pid logs/origin.pid;
error_log logs/origin.error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root www;
    location / { try_files /1k.bin =404; }
    location = /echo {
      client_body_buffer_size 1m;
      error_page 405 =200 /1k.bin;
      try_files /1k.bin =404;
    }
  }
}
EOF

origin="http://127.0.0.1:$ORIGIN_PORT"
leaf() { echo "<endpoint name=\"$1\"><address uri=\"$origin$2\"/>$3</endpoint>"; }
weight() { echo "<property name=\"loadbalance.weight\" value=\"$1\"/>"; }
api() { echo "<api name=\"$1\" context=\"/$1\"><resource><inSequence><property name=\"REST_URL_POSTFIX\" scope=\"axis2\" action=\"remove\"/><send><endpoint key=\"$2\"/></send></inSequence></resource></api>"; }
{
  echo "<definitions>"
  leaf Leaf /1k.bin ""
  echo "<endpoint name=\"RR\"><loadbalance>$(leaf R1 /1k.bin "")$(leaf R2 /1k.bin "")$(leaf R3 /1k.bin "")</loadbalance></endpoint>"
  echo "<endpoint name=\"WRR\"><loadbalance algorithm=\"weightedRoundRobin\">$(leaf W1 /1k.bin "$(weight 1)")$(leaf W2 /1k.bin "$(weight 2)")$(leaf W3 /1k.bin "$(weight 3)")</loadbalance></endpoint>"
  echo "<endpoint name=\"FO\"><failover>$(leaf P /1k.bin "")$(leaf S /1k.bin "")</failover></endpoint>"
  echo "<endpoint name=\"Nested\"><loadbalance><endpoint><failover>$(leaf N1 /1k.bin "")$(leaf N2 /1k.bin "")</failover></endpoint><endpoint><failover>$(leaf N3 /1k.bin "")$(leaf N4 /1k.bin "")</failover></endpoint></loadbalance></endpoint>"
  leaf EchoLeaf /echo ""
  echo "<endpoint name=\"EchoFO\"><failover>$(leaf EP /echo "")$(leaf ES /echo "")</failover></endpoint>"
  api leaf Leaf; api rr RR; api wrr WRR; api fo FO; api nested Nested
  api postleaf EchoLeaf; api postfo EchoFO
  echo "</definitions>"
} > "$RUN/mediation/bench.xml"

"${SRV[@]}" nginx -p "$RUN/" -c "$RUN/origin.conf" &
PIDS+=("$!")
AXON_LOG=warn "${SRV[@]}" "$AXON" serve --mediation "$RUN/mediation" --http-port "$AXON_PORT" \
  --management-port "$ADMIN_PORT" --bind 127.0.0.1 --workers 1 2>"$RUN/logs/axon.log" &
AXON_PID=$!
PIDS+=("$AXON_PID")
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$ADMIN_PORT/health/ready" >/dev/null && break
  sleep 0.1
done
cat > "$RUN/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("p", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

# CPU ticks (user + system) Axon has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$AXON_PID/stat"; }
HZ=$(getconf CLK_TCK)
targets=(leaf rr wrr fo nested postleaf postfo)
declare -A RPS P99 CPU
for t in "${targets[@]}"; do
  curl -sf -o /dev/null "http://127.0.0.1:$AXON_PORT/$t" -d x || curl -sf -o /dev/null "http://127.0.0.1:$AXON_PORT/$t" \
    || { echo "target $t does not answer"; cat "$RUN/logs/axon.log"; exit 1; }
done
for rep in $(seq 1 "$REPS"); do
  for t in "${targets[@]}"; do
    script=()
    [[ $t == post* ]] && script=(-s "$RUN/post.lua")
    before=$(ticks)
    out=$("${CLI[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${script[@]}" "http://127.0.0.1:$AXON_PORT/$t")
    after=$(ticks)
    RPS[$t]+="$(awk '/Requests\/sec/ {print $2}' <<<"$out") "
    P99[$t]+="$(awk '$1 == "99%" {print $2}' <<<"$out") "
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    CPU[$t]+="$(awk -v t="$((after - before))" -v hz="$HZ" -v n="$total" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}') "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-10s %12s %10s %14s\n' target "req/s" "p99" "CPU µs/req"
for t in "${targets[@]}"; do
  printf '%-10s %12s %10s %14s\n' "$t" "$(median <<<"${RPS[$t]}")" "$(median <<<"${P99[$t]}")" "$(median <<<"${CPU[$t]}")"
done
