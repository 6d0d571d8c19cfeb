#!/usr/bin/env bash
# Sharding's cost and merge's speed on one machine (README, "Running on
# many machines"):
#  1. the same total load from one process and from 4 shards (4 processes
#     with --shards 4 and a shared --start-at, then merge), against nginx
#     (one worker, CPU 0; clients on CPU 1 when there are 2+ CPUs): an open
#     loop at RATE req/s and a closed loop of 64 tasks, ROUNDS alternating
#     rounds, medians; prints sharded/single throughput;
#  2. merge of 16 synthetic shards x 60 s of per-second interval logs
#     (written by the ignored test `synthesize_merge_bench_input`), timed
#     with /usr/bin/time -v: wall time and peak RSS.
# Needs a release build (cargo build --release -p load-client), nginx and
# GNU time.
set -euo pipefail
usage() {
  echo "usage: scripts/shard-bench.sh [RATE] [ROUNDS]   (defaults: 10000 req/s, 3 rounds)"
}
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
cd "$(dirname "$0")/.."
rate=${1:-10000}
rounds=${2:-3}
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/load-client"
[ -x "$bin" ] || { echo "build first: cargo build --release -p load-client" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx is needed" >&2; exit 2; }
work=$(mktemp -d)
nginx_pid=""
cleanup() { [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
server_cpu=(); client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0); client_cpu=(taskset -c 1)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
sed -e "s#@PORT@#$port#" -e "s#@PREFIX@#$work/nginx#" scripts/nginx-bench.conf > "$work/nginx/nginx.conf"
"${server_cpu[@]}" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" &
nginx_pid=$!
sleep 0.5
cat > "$work/s.yaml" <<YAML
name: shard-bench
url: http://127.0.0.1:$port/
cases:
  - {name: open, executor: rate, rate: $rate/s, duration: 5s, max_in_flight: 5000}
  - {name: closed, executor: tasks, tasks: 64, duration: 5s}
YAML
# throughput of a case in a summary.csv
tput() { python3 - "$1" "$2" <<'PY'
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    if row["case"] == sys.argv[2]:
        print(row["throughput"])
PY
}
# requests of every case in a summary.csv
requests() { python3 -c 'import csv, sys; print(sum(int(r["requests"]) for r in csv.DictReader(open(sys.argv[1]))))' "$1"; }
# CPU µs per request: user + system seconds in /usr/bin/time -f '%U %S'
# files (the rest of the arguments), over the requests in a summary.csv
cpu() {
  local n; n=$(requests "$1"); shift
  cat "$@" | awk -v n="$n" '{s += $1 + $2} END {printf "%.2f", s * 1e6 / n}'
}
timed() { local out=$1; shift; /usr/bin/time -f '%U %S' -o "$out" "$@"; }
declare -A got
for r in $(seq "$rounds"); do
  timed "$work/cpu-single-$r" "${client_cpu[@]}" "$bin" run "$work/s.yaml" --quiet \
    --out "$work/single-$r" >/dev/null
  pids=()
  # One absolute instant for all 4 (+2s would be each process's own).
  at=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%S.%3NZ)
  for i in 0 1 2 3; do
    JOB_COMPLETION_INDEX=$i timed "$work/cpu-shard-$r-$i" "${client_cpu[@]}" "$bin" run \
      "$work/s.yaml" --quiet --shards 4 --start-at "$at" --out "$work/sharded-$r/shard-$i" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$bin" merge "$work"/sharded-"$r"/shard-{0,1,2,3} --out "$work/sharded-$r/merged" >/dev/null
  for c in open closed; do
    got[single-$c]+=" $(tput "$work/single-$r/summary.csv" "$c")"
    got[sharded-$c]+=" $(tput "$work/sharded-$r/merged/summary.csv" "$c")"
  done
  got[cpu-single]+=" $(cpu "$work/single-$r/summary.csv" "$work/cpu-single-$r")"
  got[cpu-sharded]+=" $(cpu "$work/sharded-$r/merged/summary.csv" "$work"/cpu-shard-"$r"-*)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
compare() {
  local name=$1 single=$2 sharded=$3 s m
  # shellcheck disable=SC2086 # the lists are words on purpose
  s=$(median ${got[$single]})
  # shellcheck disable=SC2086
  m=$(median ${got[$sharded]})
  echo "$name: single${got[$single]} (median $s); 4 shards${got[$sharded]} (median $m); ratio $(python3 -c "print(round($m/$s, 3))")"
}
compare "open loop at $rate/s, req/s" single-open sharded-open
compare "closed loop of 64 tasks, req/s" single-closed sharded-closed
compare "client CPU µs per request (start-up and plots included)" cpu-single cpu-sharded

echo "merge of 16 shards x 60 s:"
MERGE_BENCH_DIR="$work/mb" cargo test -q -p load-client --test it -- --ignored synthesize_merge_bench_input >/dev/null
/usr/bin/time -v "$bin" merge "$work"/mb/shard-{0..15} --out "$work/mb/merged" >/dev/null 2>"$work/time.txt"
grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$work/time.txt"
