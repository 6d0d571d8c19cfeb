#!/usr/bin/env bash
# Benchmarks load-client and mock-server against their peers on this machine
# (wrk, oha, hey, nginx, Python's aiohttp) and reports every target of the
# performance issue as a ratio from one run. Not a pass/fail test: it always
# exits 0 once it has written its report.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/bench.sh [--quick] [--out DIR]

  --quick    shorter runs (about two minutes in all), for every change
  --out DIR  report folder (default: results/bench/<date>-<time>)

Writes DIR/bench.csv and DIR/bench.md (target, peer figure, ours, ratio,
goal, pass/miss). Servers are pinned to CPU 0 and clients to CPU 1 (when the
machine has two or more CPUs), so a client and the server it measures do not
fight over one core. Peers that are missing are reported and skipped:
  apt-get install wrk hey nginx-light nghttp2-client time curl
  cargo install oha --locked
  python3 -m pip install aiohttp
USAGE
}

quick=0
out="results/bench/$(date -u +%Y-%m-%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]+"${pids[@]}"}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$quick" = 1 ]; then dur=2; runs=3; million=200000; sag=20; else dur=5; runs=3; million=1000000; sag=60; fi

# --- tools ---------------------------------------------------------------
have() { command -v "$1" >/dev/null 2>&1; }
oha_bin=$(command -v oha || true)
[ -z "$oha_bin" ] && [ -x "$HOME/.cargo/bin/oha" ] && oha_bin="$HOME/.cargo/bin/oha"
missing=()
have wrk || missing+=("wrk (apt-get install wrk)")
have nginx || missing+=("nginx (apt-get install nginx-light)")
have hey || missing+=("hey (apt-get install hey)")
have h2load || missing+=("h2load (apt-get install nghttp2-client)")
[ -n "$oha_bin" ] || missing+=("oha (cargo install oha --locked)")
[ -x /usr/bin/time ] || missing+=("GNU time (apt-get install time)")
python3 -c 'import aiohttp' 2>/dev/null || missing+=("aiohttp (python3 -m pip install aiohttp)")

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ] && have taskset; then
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
  pinning="servers pinned to CPU 0, clients to CPU 1"
else
  server_cpu=()
  client_cpu=()
  pinning="no pinning (fewer than 2 CPUs or no taskset)"
fi

echo "building release binaries"
cargo build --release --locked --workspace --quiet
client="$root/target/release/load-client"
mock="$root/target/release/mock-server"

# --- helpers ---------------------------------------------------------------
csv_out="$out/bench.csv"
echo "target,metric,peer,peer_value,ours,ratio,goal,result" > "$csv_out"
md_rows=()

# record TARGET METRIC PEER PEER_VALUE OURS RATIO GOAL RESULT
record() {
  echo "$1,$2,$3,$4,$5,$6,$7,$8" >> "$csv_out"
  md_rows+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |")
  printf '  %-28s %-10s peer %-12s ours %-12s ratio %-6s goal %-14s %s\n' "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}

# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# calc EXPR: floating point arithmetic.
calc() { awk "BEGIN { printf \"%.4g\", $1 }"; }
# verdict VALUE OP GOAL -> pass/miss
verdict() { awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (v >= g) : (v <= g); print ok ? "pass" : "miss" }'; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start_mock PORT FLAGS...: mock-server on its CPU, pid appended to pids.
start_mock() {
  local port=$1; shift
  "${server_cpu[@]}" "$mock" --listen "127.0.0.1:$port" --workers 1 "$@" > "$work/mock-$port.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

# A field of the first row of a summary.csv.
field() { python3 -c 'import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))[sys.argv[2]])' "$1" "$2"; }

# ours NAME YAML_CASES URL [TOP_LEVEL_YAML]: runs a one-case scenario with
# load-client on the client CPU under GNU time; leaves $work/NAME/summary.csv
# and $work/NAME.time ("user sys maxrss_kb"). TOP_LEVEL_YAML (e.g. a `tls:`
# block) goes into the scenario as it is.
ours() {
  local name=$1 cases=$2 url=$3 extra=${4:-}
  printf 'name: %s\nurl: %s\n%s\nrequest:\n  timeout: 30s\ncases:\n%s\n' "$name" "$url" "$extra" "$cases" > "$work/$name.yaml"
  /usr/bin/time -f '%U %S %M' -o "$work/$name.time" \
    "${client_cpu[@]}" "$client" run "$work/$name.yaml" --quiet --out "$work/$name" > "$work/$name.log" 2>&1 || true
}

wrk_rps() { "${client_cpu[@]}" wrk -t2 -c"$2" -d"${dur}s" "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
oha_rps() { "${client_cpu[@]}" "$oha_bin" --no-tui -c "$2" -z "${dur}s" --output-format json "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["requestsPerSec"])'; }

echo "report: $out ($pinning; quick=$quick)"
for m in "${missing[@]+"${missing[@]}"}"; do echo "  missing peer: $m"; done

# --- servers ---------------------------------------------------------------
nginx_url=""
if have nginx; then
  nport=$(free_port)
  mkdir -p "$work/nginx"
  sed -e "s#@PORT@#$nport#" -e "s#@PREFIX@#$work/nginx#" scripts/nginx-bench.conf > "$work/nginx/nginx.conf"
  "${server_cpu[@]}" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" &
  pids+=($!)
  wait_port "$nport"
  nginx_url="http://127.0.0.1:$nport/"
fi
zport=$(free_port); start_mock "$zport"
zero_url="http://127.0.0.1:$zport/"

# --- 1. client throughput ------------------------------------------------------
echo "1. client throughput: tasks mode, 64 connections, tiny answer"
target1_url=${nginx_url:-$zero_url}
peer1=$([ -n "$nginx_url" ] && echo nginx || echo mock-server)
ours_r=(); wrk_r=(); oha_r=()
for i in $(seq 1 "$runs"); do
  ours "t1-$i" "  - {name: t64, executor: tasks, tasks: 64, duration: ${dur}s}" "$target1_url"
  ours_r+=("$(field "$work/t1-$i/summary.csv" throughput)")
  if have wrk; then wrk_r+=("$(wrk_rps "$target1_url" 64)"); fi
  if [ -n "$oha_bin" ]; then oha_r+=("$(oha_rps "$target1_url" 64)"); fi
done
o=$(median "${ours_r[@]}")
if have wrk; then w=$(median "${wrk_r[@]}"); r=$(calc "$o/$w"); record 1 "req/s vs $peer1" "wrk -t2 -c64" "$w" "$o" "$r" ">= 1.0" "$(verdict "$r" ">=" 1.0)"; fi
if [ -n "$oha_bin" ]; then h=$(median "${oha_r[@]}"); r=$(calc "$o/$h"); record 1 "req/s vs $peer1" "oha -c64" "$h" "$o" "$r" ">= 1.1" "$(verdict "$r" ">=" 1.1)"; fi

# --- 2. client CPU per request at a fixed rate ---------------------------------
echo "2. client CPU per request at 20000 req/s"
ours t2 "  - {name: r, executor: rate, rate: 20000/s, duration: ${dur}s}" "$target1_url"
read -r u s _ < "$work/t2.time"
n=$(field "$work/t2/summary.csv" requests)
ours_cpu=$(calc "($u+$s)*1e6/$n")
if [ -n "$oha_bin" ]; then
  /usr/bin/time -f '%U %S %M' -o "$work/t2-oha.time" "${client_cpu[@]}" "$oha_bin" --no-tui -q 20000 -z "${dur}s" \
    --output-format json "$target1_url" > "$work/t2-oha.json" 2>/dev/null || true
  read -r u s _ < "$work/t2-oha.time"
  on=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(d["statusCodeDistribution"].values()))' "$work/t2-oha.json")
  oha_cpu=$(calc "($u+$s)*1e6/$on")
  r=$(calc "$ours_cpu/$oha_cpu")
  record 2 "CPU us/request at 20000/s" "oha -q 20000" "$oha_cpu" "$ours_cpu" "$r" "<= 1.0" "$(verdict "$r" "<=" 1.0)"
else
  record 2 "CPU us/request at 20000/s" "none" "" "$ours_cpu" "" "<= 1.0" "no peer"
fi
echo "  (Debian's wrk has no fixed-rate mode; wrk2 is not packaged, so oha -q is the fixed-rate peer)"

# --- 3. server throughput ------------------------------------------------------
echo "3. server throughput: delay 0, unlimited, wrk -t2 -c64, median of 5 alternating runs of 5 s (both modes)"
if have wrk && [ -n "$nginx_url" ]; then
  m_r=(); n_r=()
  for _ in 1 2 3 4 5; do
    m_r+=("$(dur=5 wrk_rps "$zero_url" 64)")
    n_r+=("$(dur=5 wrk_rps "$nginx_url" 64)")
  done
  m=$(median "${m_r[@]}"); ng=$(median "${n_r[@]}"); r=$(calc "$m/$ng")
  record 3 "server req/s" "nginx (1 worker)" "$ng" "$m" "$r" ">= 1.05" "$(verdict "$r" ">=" 1.05)"
else
  record 3 "server req/s" "nginx/wrk missing" "" "" "" ">= 1.05" "skipped"
fi

# --- 4. delay fidelity ---------------------------------------------------------
echo "4. delay fidelity: delay 10 ms, capacity unlimited"
dport=$(free_port); start_mock "$dport" --delay 10ms
for n in 1 10 100; do
  ours "t4-$n" "  - {name: n$n, executor: tasks, tasks: $n, duration: ${dur}s, warmup: 200ms}" "http://127.0.0.1:$dport/"
  p50=$(calc "$(field "$work/t4-$n/summary.csv" lat_p50_us)/1000")
  p99=$(calc "$(field "$work/t4-$n/summary.csv" lat_p99_us)/1000")
  x=$(field "$work/t4-$n/summary.csv" throughput)
  record 4 "p50 ms, N=$n" "model D" 10 "$p50" "$(calc "$p50-10")" "<= D+0.5" "$(verdict "$p50" "<=" 10.5)"
  record 4 "p99 ms, N=$n" "model D" 10 "$p99" "$(calc "$p99-10")" "<= D+2" "$(verdict "$p99" "<=" 12)"
  r=$(calc "$x/($n/0.010)")
  record 4 "req/s, N=$n" "model N/D" "$(calc "$n/0.010")" "$x" "$r" ">= 0.95" "$(verdict "$r" ">=" 0.95)"
done
overshoot=$(curl -s "http://127.0.0.1:$dport/__stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("delay_overshoot_p50_us", ""))' || true)
[ -n "$overshoot" ] && echo "  server-side delay overshoot p50: ${overshoot} us"

# --- 5. the 500-task case ------------------------------------------------------
echo "5. 500 tasks, one request each, delay 100 ms, cold connections (median of 5)"
hport=$(free_port); start_mock "$hport" --delay 100ms
w_r=(); a_r=()
for i in 1 2 3 4 5; do
  ours "t5-$i" "  - {name: t500, executor: tasks, tasks: 500, requests_per_task: 1}" "http://127.0.0.1:$hport/"
  w_r+=("$(calc "$(field "$work/t5-$i/summary.csv" wall_seconds)*1000")")
  if python3 -c 'import aiohttp' 2>/dev/null; then
    aio=$("${client_cpu[@]}" python3 scripts/aiohttp_gather.py "http://127.0.0.1:$hport/" 500 | sed -n 's/^wall_seconds=\([0-9.]*\).*/\1/p')
    a_r+=("$(calc "$aio*1000")")
  fi
done
wall=$(median "${w_r[@]}")
record 5 "wall ms, 500 requests" "model D" 100 "$wall" "$(calc "$wall-100")" "<= D+20ms" "$(verdict "$wall" "<=" 120)"
if [ "${#a_r[@]}" -gt 0 ]; then
  aio_ms=$(median "${a_r[@]}"); r=$(calc "$wall/$aio_ms")
  record 5 "wall ms, 500 requests" "aiohttp gather" "$aio_ms" "$wall" "$r" "<= 0.55" "$(verdict "$r" "<=" 0.55)"
else
  record 5 "wall ms, 500 requests" "aiohttp missing" "" "$wall" "" "<= 0.55" "skipped"
fi

# --- 5b. cold start: tasks against unbounded -------------------------------------
echo "5b. 500 cold requests against nginx at zero delay: tasks vs unbounded (median of 5)"
if [ -n "$nginx_url" ]; then
  t_r=(); u_r=()
  for i in 1 2 3 4 5; do
    ours "t5b-t-$i" "  - {name: t, executor: tasks, tasks: 500, requests_per_task: 1}" "$nginx_url"
    t_r+=("$(calc "$(field "$work/t5b-t-$i/summary.csv" wall_seconds)*1000")")
    ours "t5b-u-$i" "  - {name: u, executor: unbounded, requests: 500}" "$nginx_url"
    u_r+=("$(calc "$(field "$work/t5b-u-$i/summary.csv" wall_seconds)*1000")")
  done
  t=$(median "${t_r[@]}"); u=$(median "${u_r[@]}"); r=$(calc "$t/$u")
  record 5 "wall ms, 500 cold, tasks" "unbounded" "$u" "$t" "$r" "<= 1.1" "$(verdict "$r" "<=" 1.1)"
else
  record 5 "wall ms, 500 cold, tasks" "nginx missing" "" "" "" "<= 1.1" "skipped"
fi

# --- 5c. 5000 cold requests -----------------------------------------------------
echo "5c. 5000 tasks, one request each, delay 100 ms, capacity 5000, cold connections (median of 3)"
kport=$(free_port); start_mock "$kport" --delay 100ms --capacity 5000
k_r=()
for i in 1 2 3; do
  ours "t5c-$i" "  - {name: t5000, executor: tasks, tasks: 5000, requests_per_task: 1}" "http://127.0.0.1:$kport/"
  k_r+=("$(calc "$(field "$work/t5c-$i/summary.csv" wall_seconds)*1000")")
done
k=$(median "${k_r[@]}")
record 5 "wall ms, 5000 requests" "model D" 100 "$k" "$(calc "$k-100")" "<= D+100ms" "$(verdict "$k" "<=" 200)"

# --- mix. a weighted request mix with a data file ---------------------------------
# ours_scenario NAME YAML: like `ours`, for a whole scenario given as text.
ours_scenario() {
  local name=$1
  printf '%s\n' "$2" > "$work/$name.yaml"
  /usr/bin/time -f '%U %S %M' -o "$work/$name.time" \
    "${client_cpu[@]}" "$client" run "$work/$name.yaml" --quiet --out "$work/$name" > "$work/$name.log" 2>&1 || true
}
echo "mix. three-entry weighted mix (70/20/10) with a 1000-row CSV vs one request shape, 64 tasks"
python3 -c 'print("user,id,query"); [print(f"user{i},{i},q{i*7}") for i in range(1000)]' > "$work/users.csv"
mix_yaml="url: $target1_url
data: {file: users.csv, order: shuffle}
requests:
  - {name: user, weight: 70, path: '/api/users/{{user}}'}
  - {name: search, weight: 20, path: '/api/search?q={{query}}&id={{id}}'}
  - {name: login, weight: 10, method: POST, path: /login, body: '{\"user\": \"{{user}}\", \"id\": {{id}}}'}
cases:
  - {name: mix, executor: tasks, tasks: 64, duration: ${dur}s}"
one_yaml="url: $target1_url
request: {path: /api/users/user1}
cases:
  - {name: one, executor: tasks, tasks: 64, duration: ${dur}s}"
mix_r=(); one_r=()
for i in $(seq 1 "$runs"); do
  ours_scenario "tmix-one-$i" "$one_yaml"
  one_r+=("$(field "$work/tmix-one-$i/summary.csv" throughput)")
  ours_scenario "tmix-mix-$i" "$mix_yaml"
  mix_r+=("$(field "$work/tmix-mix-$i/summary.csv" throughput)")
done
m=$(median "${mix_r[@]}"); s1=$(median "${one_r[@]}"); r=$(calc "$m/$s1")
record mix "req/s, 3-entry mix + CSV vs one request" "one request shape" "$s1" "$m" "$r" ">= 0.95" "$(verdict "$r" ">=" 0.95)"

# --- 6. memory -----------------------------------------------------------------
echo "6. memory: $million requests; 10000 in flight"
per_task=$(( million / 64 ))
ours t6 "  - {name: m, executor: tasks, tasks: 64, requests_per_task: $per_task}" "$target1_url"
read -r _ _ rss_kb < "$work/t6.time"
record 6 "client peak RSS MB, $million req" "" "" "$(calc "$rss_kb/1024")" "" "< 40" "$(verdict "$(calc "$rss_kb/1024")" "<=" 40)"
fport=$(free_port); start_mock "$fport" --delay 3s
fpid=${pids[${#pids[@]}-1]}
# Idle means warmed up and at rest: one answered request first.
curl -s -o /dev/null "http://127.0.0.1:$fport/delay/0" || true
idle_server=$(awk '/VmRSS/ {print $2}' "/proc/$fpid/status")
ours t6-idle "  - {name: one, executor: unbounded, requests: 1}" "http://127.0.0.1:$fport/"
read -r _ _ idle_client < "$work/t6-idle.time"
ours t6-flight "  - {name: flight, executor: unbounded, requests: 10000}" "http://127.0.0.1:$fport/"
read -r _ _ peak_client < "$work/t6-flight.time"
peak_server=$(awk '/VmHWM/ {print $2}' "/proc/$fpid/status")
c_kb=$(calc "($peak_client-$idle_client)/10000")
s_kb=$(calc "($peak_server-$idle_server)/10000")
record 6 "client KB per in-flight request" "" "" "$c_kb" "" "<= 4" "$(verdict "$c_kb" "<=" 4)"
record 6 "server KB per in-flight request" "" "" "$s_kb" "" "<= 12" "$(verdict "$s_kb" "<=" 12)"

# --- 7. scale of cost ----------------------------------------------------------
echo "7. client CPU per request at 10, 1000 and 10000 tasks against wrk; throughput over ${sag}s at 1000 tasks"
cpu_at() {
  ours "t7-$1" "  - {name: c$1, executor: tasks, tasks: $1, duration: ${dur}s}" "$target1_url"
  local u s
  read -r u s _ < "$work/t7-$1.time"
  calc "($u+$s)*1e6/$(field "$work/t7-$1/summary.csv" requests)"
}
c10=$(cpu_at 10); c1k=$(cpu_at 1000); c10k=$(cpu_at 10000)
x10k=$(field "$work/t7-10000/summary.csv" throughput)
r=$(calc "$c10k/$c10")
record 7 "CPU us/req, 10000 vs 10 tasks" "10 tasks" "$c10" "$c10k" "$r" "<= 1.2" "$(verdict "$r" "<=" 1.2)"
# The same scaling for wrk, to tell the kernel's share from ours.
wrk_cpu_at() {
  /usr/bin/time -f '%U %S' -o "$work/wrk-$1.time" "${client_cpu[@]}" wrk -t2 -c"$1" -d"${dur}s" "$target1_url" > "$work/wrk-$1.txt" 2>&1 || true
  local u s n
  read -r u s < "$work/wrk-$1.time"
  n=$(awk '/requests in/ {print $1}' "$work/wrk-$1.txt")
  calc "($u+$s)*1e6/$n"
}
if have wrk; then
  w10=$(wrk_cpu_at 10); w1k=$(wrk_cpu_at 1000); w10k=$(wrk_cpu_at 10000)
  wx10k=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-10000.txt")
  record 7 "CPU us/req at 10 conns" "wrk" "$w10" "$c10" "$(calc "$c10/$w10")" "info" ""
  record 7 "CPU us/req at 1000 conns" "wrk" "$w1k" "$c1k" "$(calc "$c1k/$w1k")" "info" ""
  r=$(calc "$c10k/$w10k")
  record 7 "CPU us/req at 10000 conns" "wrk" "$w10k" "$c10k" "$r" "<= 0.7" "$(verdict "$r" "<=" 0.7)"
  r=$(calc "$x10k/$wx10k")
  record 7 "req/s at 10000 conns" "wrk" "$wx10k" "$x10k" "$r" ">= 1.0" "$(verdict "$r" ">=" 1.0)"
fi
ours t7-sag "  - {name: sag, executor: tasks, tasks: 1000, duration: ${sag}s}" "$target1_url"
window=$(( sag / 6 )); [ "$window" -lt 2 ] && window=2
sag_ratio=$(python3 - "$work/t7-sag/sag.timeline.csv" "$window" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
w = int(sys.argv[2])
full = [int(r["ok"]) for r in rows[:-1]]  # the last second is partial
first, last = sum(full[:w]), sum(full[-w:])
print(f"{last / first:.4g}" if first else "nan")
PY
)
record 7 "req/s last vs first ${window}s" "first ${window}s" "1" "$sag_ratio" "$sag_ratio" ">= 0.95" "$(verdict "$sag_ratio" ">=" 0.95)"

# --- 8. HTTPS ------------------------------------------------------------------
echo "8. HTTPS against nginx (1 worker, ssl, return 200): keep-alive and a new connection per request"
tls_url=""
if have nginx && have openssl; then
  tport=$(free_port)
  mkdir -p "$work/nginx-tls"
  # CA:FALSE: a certificate that signs itself as a CA is refused as a
  # server's own by rustls (and webpki).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE -keyout "$work/nginx-tls/key.pem" -out "$work/nginx-tls/cert.pem" 2>/dev/null
  sed -e "s#@PORT@#$tport#" -e "s#@PREFIX@#$work/nginx-tls#" scripts/nginx-bench-tls.conf > "$work/nginx-tls/nginx.conf"
  "${server_cpu[@]}" nginx -c "$work/nginx-tls/nginx.conf" -p "$work/nginx-tls" -e "$work/nginx-tls/error.log" &
  pids+=($!)
  tls_master=$!
  wait_port "$tport"
  tls_url="https://127.0.0.1:$tport/"
fi
if [ -n "$tls_url" ]; then
  tls_block="tls: {ca: $work/nginx-tls/cert.pem}"
  # Throughput ratios on a shared 2-core machine say more about who got
  # the CPUs than about the clients, so every run also gives CPU time per
  # request (GNU time; start-up included, ~0.05 s for every client) for
  # the client, and for nginx's worker (/proc/PID/stat) with its busy
  # share of the run: a share near 1 means nginx (CPU 0) is the bottleneck
  # and no client can go faster.
  hz=$(getconf CLK_TCK)
  ngx_ticks() {
    local worker
    worker=$(pgrep -P "$tls_master" nginx | head -n1 || true)
    if [ -n "$worker" ]; then awk '{print $14+$15}' "/proc/$worker/stat"; else echo 0; fi
  }
  # cpu0_idle: CPU 0's idle time so far, in ticks.
  cpu0_idle() { awk '$1 == "cpu0" {print $5 + $6}' /proc/stat; }
  # around NAME CMD...: runs CMD; leaves $work/NAME.ngx ("nginx CPU
  # seconds, wall seconds, CPU 0 idle seconds").
  around() {
    local name=$1 n0 t0 i0 n1 t1 i1; shift
    n0=$(ngx_ticks); i0=$(cpu0_idle); t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N); n1=$(ngx_ticks); i1=$(cpu0_idle)
    echo "$(calc "($n1-$n0)/$hz") $(calc "$t1-$t0") $(calc "($i1-$i0)/$hz")" > "$work/$name.ngx"
  }
  # peer NAME CMD...: a peer on the client CPU under GNU time; output in $work/NAME.out.
  peer() { local name=$1; shift; /usr/bin/time -f '%U %S' -o "$work/$name.time" "${client_cpu[@]}" "$@" > "$work/$name.out" 2>/dev/null || true; }
  # figures NAME REQUESTS [SECONDS]: "req/s client_us nginx_us nginx_share
  # cpu0_idle_share client_share" of one run (SECONDS: the measured phase,
  # default the run's wall; the last two are of the whole run).
  figures() {
    local u s c w i
    read -r u s _ < "$work/$1.time"; read -r c w i < "$work/$1.ngx"
    awk -v n="$2" -v w="${3:-$w}" -v all="$w" -v u="$u" -v s="$s" -v c="$c" -v i="$i" \
      'BEGIN { printf "%.0f %.2f %.2f %.2f %.2f %.2f\n", n/w, (u+s)*1e6/n, c*1e6/n, c/w, i/all, (u+s)/all }'
  }
  oha_n() { python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["statusCodeDistribution"].values()))' "$work/$1.out"; }
  wrk_n() { awk '/requests in/ {print $1}' "$work/$1.out"; }
  # colmed COLUMN NAME: the median of one column of the runs' figures
  # (1 req/s, 2 client us/req, 3 nginx us/req, 4 nginx share, 5 CPU 0 idle,
  # 6 client share).
  colmed() { awk -v c="$1" '{print $c}' "$work/$2.fig" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
  : > "$work/t8-ours-k.fig"; : > "$work/t8-ours-n.fig"
  for i in $(seq 1 "$runs"); do
    around "t8k-$i" ours "t8k-$i" "  - {name: k64, executor: tasks, tasks: 64, duration: ${dur}s}" "$tls_url" "$tls_block"
    figures "t8k-$i" "$(field "$work/t8k-$i/summary.csv" requests)" "$(field "$work/t8k-$i/summary.csv" wall_seconds)" >> "$work/t8-ours-k.fig"
    around "t8n-$i" ours "t8n-$i" "  - {name: n64, executor: tasks, tasks: 64, duration: ${dur}s, connection: per_request}" "$tls_url" "$tls_block"
    figures "t8n-$i" "$(field "$work/t8n-$i/summary.csv" requests)" "$(field "$work/t8n-$i/summary.csv" wall_seconds)" >> "$work/t8-ours-n.fig"
    if have wrk; then
      around "t8wk-$i" peer "t8wk-$i" wrk -t2 -c64 -d"${dur}s" "$tls_url"
      figures "t8wk-$i" "$(wrk_n "t8wk-$i")" >> "$work/t8-wrk-k.fig"
      # wrk opens a new connection after every answer to `Connection: close`.
      around "t8wn-$i" peer "t8wn-$i" wrk -t2 -c64 -d"${dur}s" -H 'Connection: close' "$tls_url"
      figures "t8wn-$i" "$(wrk_n "t8wn-$i")" >> "$work/t8-wrk-n.fig"
    fi
    if [ -n "$oha_bin" ]; then
      around "t8hk-$i" peer "t8hk-$i" "$oha_bin" --no-tui --insecure -c 64 -z "${dur}s" --output-format json "$tls_url"
      figures "t8hk-$i" "$(oha_n "t8hk-$i")" >> "$work/t8-oha-k.fig"
      around "t8hn-$i" peer "t8hn-$i" "$oha_bin" --no-tui --insecure -c 64 -z "${dur}s" --disable-keepalive --output-format json "$tls_url"
      figures "t8hn-$i" "$(oha_n "t8hn-$i")" >> "$work/t8-oha-n.fig"
    fi
  done
  tls_p50=$(field "$work/t8n-1/summary.csv" tls_p50_us)
  echo "  per-request TLS handshake p50: ${tls_p50} us; connections opened in one run: $(field "$work/t8n-1/summary.csv" connections_opened)"
  # tls_rows MODE LABEL PEER_LABEL PEER_FILE GOAL [INFO]: the throughput, client CPU and bound rows of one case against one peer.
  tls_rows() {
    local mode=$1 label=$2 plabel=$3 pf=$4 goal=$5 info=${6:-}
    local o h r ou hu
    o=$(colmed 1 "t8-ours-$mode"); h=$(colmed 1 "$pf"); r=$(calc "$o/$h")
    if [ -n "$info" ]; then
      record 8 "$label req/s" "$plabel" "$h" "$o" "$r" "info" "$info"
    else
      record 8 "$label req/s" "$plabel" "$h" "$o" "$r" "$goal" "$(verdict "$r" ">=" "${goal#>= }")"
    fi
    ou=$(colmed 2 "t8-ours-$mode"); hu=$(colmed 2 "$pf"); r=$(calc "$ou/$hu")
    record 8 "$label client CPU us/req" "$plabel" "$hu" "$ou" "$r" "<= 1.0" "$(verdict "$r" "<=" 1.0)"
    # The CPU time each client got per second of its run: on a busy machine
    # a client with two busy threads (wrk -t2, oha) gets a larger share of
    # CPU 1 than one with one, and req/s follows share / (us/req).
    ou=$(colmed 6 "t8-ours-$mode"); hu=$(colmed 6 "$pf")
    record 8 "$label client CPU s per s" "$plabel" "$hu" "$ou" "$(calc "$ou/$hu")" "info" "CPU 1 share each got"
  }
  # nginx_row MODE LABEL: nginx's CPU per request and busy share during
  # our runs, and which side was the bottleneck: the busier CPU, if near
  # full; with CPU 0 never idle and nginx not near full, other work took
  # nginx's CPU.
  nginx_row() {
    local us share idle own
    us=$(colmed 3 "t8-ours-$1"); share=$(colmed 4 "t8-ours-$1"); idle=$(colmed 5 "t8-ours-$1"); own=$(colmed 6 "t8-ours-$1")
    record 8 "$2 nginx busy share (ours)" "nginx us/req" "$us" "$share" "" "info" \
      "$(awk -v s="$share" -v i="$idle" -v o="$own" 'BEGIN {
        if (s >= 0.9 && s >= o) printf "server-bound (ours busy %.2f)", o;
        else if (o >= 0.9) printf "client-bound (ours busy %.2f)", o;
        else if (i < 0.05) printf "CPU 0 shared with other work (idle %.2f)", i;
        else printf "neither saturated (ours busy %.2f, CPU 0 idle %.2f)", o, i }')"
  }
  nginx_row k "HTTPS keep-alive"
  nginx_row n "HTTPS new conn/request"
  if have wrk; then
    tls_rows k "HTTPS keep-alive" "wrk -t2 -c64" t8-wrk-k ">= 1.0"
    tls_rows n "HTTPS new conn/request" "wrk -c64 Connection: close" t8-wrk-n "" "wrk has no keep-alive switch"
  fi
  if [ -n "$oha_bin" ]; then
    tls_rows k "HTTPS keep-alive" "oha -c64" t8-oha-k ">= 1.1"
    tls_rows n "HTTPS new conn/request" "oha -c64 --disable-keepalive" t8-oha-n ">= 1.0"
  else
    record 8 "HTTPS keep-alive req/s" "oha missing" "" "$(colmed 1 t8-ours-k)" "" ">= 1.1" "skipped"
    record 8 "HTTPS new conn/request req/s" "oha missing" "" "$(colmed 1 t8-ours-n)" "" ">= 1.0" "skipped"
  fi
else
  record 8 "HTTPS req/s" "nginx/openssl missing" "" "" "" "" "skipped"
fi
# --- 8b. HTTP/2 -----------------------------------------------------------------
# One client thread on each side: h2load -t1 and a current_thread runtime.
echo "8b. HTTP/2 (h2c, prior knowledge) against the mock server at zero delay: 16 connections x 4 streams, one client thread"
h2_conns=16; h2_streams=4
if have h2load; then
  ours_r=(); h2l_r=()
  for i in $(seq 1 "$runs"); do
    ours "t8-$i" "  - {name: h2, executor: tasks, tasks: $(( h2_conns * h2_streams )), duration: ${dur}s, protocol: http2, streams_per_connection: $h2_streams, runtime: current_thread}" "$zero_url"
    ours_r+=("$(field "$work/t8-$i/summary.csv" throughput)")
    h2l_r+=("$("${client_cpu[@]}" h2load -t1 -c"$h2_conns" -m"$h2_streams" -D"$dur" "$zero_url" 2>/dev/null | awk '/^finished in/ {print $4}')")
  done
  o=$(median "${ours_r[@]}"); h=$(median "${h2l_r[@]}"); r=$(calc "$o/$h")
  record 8b "h2c req/s vs mock-server" "h2load -c$h2_conns -m$h2_streams" "$h" "$o" "$r" ">= 0.9" "$(verdict "$r" ">=" 0.9)"
else
  record 8b "h2c req/s vs mock-server" "h2load missing" "" "" "" ">= 0.9" "skipped"
fi
# HTTP/2 over TLS against nginx (ALPN h2), the same connections and streams.
if [ -n "$tls_url" ] && have h2load; then
  ours_r=(); h2l_r=()
  for i in $(seq 1 "$runs"); do
    ours "t8c-$i" "  - {name: h2tls, executor: tasks, tasks: $(( h2_conns * h2_streams )), duration: ${dur}s, protocol: http2, streams_per_connection: $h2_streams, runtime: current_thread}" "$tls_url" "$tls_block"
    ours_r+=("$(field "$work/t8c-$i/summary.csv" throughput)")
    h2l_r+=("$("${client_cpu[@]}" h2load -t1 -c"$h2_conns" -m"$h2_streams" -D"$dur" "$tls_url" 2>/dev/null | awk '/^finished in/ {print $4}')")
  done
  o=$(median "${ours_r[@]}"); h=$(median "${h2l_r[@]}"); r=$(calc "$o/$h")
  record 8c "h2 over TLS req/s vs nginx" "h2load -c$h2_conns -m$h2_streams" "$h" "$o" "$r" ">= 0.9" "$(verdict "$r" ">=" 0.9)"
else
  record 8c "h2 over TLS req/s vs nginx" "nginx/openssl/h2load missing" "" "" "" ">= 0.9" "skipped"
fi

# --- report --------------------------------------------------------------------
{
  echo "# Benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $pinning; quick=$quick; $runs alternating runs of ${dur}s for medians."
  echo "load-client $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  for m in "${missing[@]+"${missing[@]}"}"; do echo "Missing peer, skipped: $m."; done
  echo
  echo "| target | metric | peer | peer value | ours | ratio | goal | result |"
  echo "|---|---|---|---:|---:|---:|---|---|"
  printf '%s\n' "${md_rows[@]}"
} > "$out/bench.md"
echo "wrote $out/bench.csv and $out/bench.md"
