#!/usr/bin/env bash
# Soak test: the release mock-server and load-client side by side for a long
# run at half the server's capacity. Samples both processes' RSS every second,
# joins it with the client's per-second timeline, checks that memory stays
# flat and nothing failed, and plots RSS and latency over time. Not part of CI.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/soak.sh [--duration D] [--delay D] [--capacity N] [--rate N]
                       [--out DIR] [--no-build]

Starts target/release/mock-server (--delay, --capacity; capacity/delay is
what it can serve) and runs target/release/load-client on a generated
scenario: executor rate at half that, for the whole duration.

  --duration D  how long the client sends: 600s, 10m, 1h (default 10m)
  --delay D     server delay, in ms or s: 20ms, 1s (default 20ms)
  --capacity N  server capacity (default 100)
  --rate N      requests per second (default capacity / delay / 2 = 2500)
  --out DIR     results folder (default results/soak/<timestamp>)
  --no-build    use the release binaries as they are
  -h, --help    this text

Writes into DIR:
  rss.csv        second,client_rss_kb,server_rss_kb (VmRSS, one row a second)
  soak.csv       rss.csv joined with the client's <case>.timeline.csv:
                 second,client_rss_kb,server_rss_kb,ok,errors,p50_us,p99_us
                 (RSS seconds count from the client's start, timeline seconds
                 from its measured phase; they differ by well under a second)
  soak.svg/.png  RSS and latency over time (needs gnuplot:
                 apt-get install gnuplot-nox; skipped without it)
  summary.txt    the figures and verdicts printed at the end
  soak.yaml, client/, server.log, client.log, server-final.json

The client keeps at most 1.5 x rate x delay (+8) requests in flight, so the
number of connections stays the same for the whole run.
Checks: RSS growth of each process from the end of the warm-up (the first
minute, or the first 20% of runs shorter than five minutes) to the end is
under 5%, and the client saw no errors.
Exit codes: 0 all checks passed, 1 a check failed, 2 bad arguments,
3 the soak could not be run.
USAGE
}

die() { echo "soak: $*" >&2; exit 3; }
bad_usage() { echo "soak: $*" >&2; usage >&2; exit 2; }

# Seconds in "600", "600s", "10m", "1h".
parse_seconds() {
  if [[ "$1" =~ ^([0-9]+)(s|m|h)?$ ]]; then
    local n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]:-s}
    case "$unit" in
      s) echo "$n" ;;
      m) echo $((n * 60)) ;;
      h) echo $((n * 3600)) ;;
    esac
  else
    return 1
  fi
}

# Milliseconds in "20ms", "1s".
parse_millis() {
  if [[ "$1" =~ ^([0-9]+)(ms|s)$ ]]; then
    if [ "${BASH_REMATCH[2]}" = s ]; then echo $((BASH_REMATCH[1] * 1000)); else echo "${BASH_REMATCH[1]}"; fi
  else
    return 1
  fi
}

duration_text=10m
delay_text=20ms
capacity=100
rate=""
out=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) [ $# -ge 2 ] || bad_usage "--duration needs a value"; duration_text=$2; shift 2 ;;
    --delay) [ $# -ge 2 ] || bad_usage "--delay needs a value"; delay_text=$2; shift 2 ;;
    --capacity) [ $# -ge 2 ] || bad_usage "--capacity needs a value"; capacity=$2; shift 2 ;;
    --rate) [ $# -ge 2 ] || bad_usage "--rate needs a value"; rate=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || bad_usage "--out needs a value"; out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument: $1" ;;
  esac
done

duration=$(parse_seconds "$duration_text") || bad_usage "--duration $duration_text: expected seconds, 600s, 10m or 1h"
delay_ms=$(parse_millis "$delay_text") || bad_usage "--delay $delay_text: expected 20ms or 1s"
[[ "$capacity" =~ ^[1-9][0-9]*$ ]] || bad_usage "--capacity $capacity: expected a whole number above 0"
[ "$duration" -ge 10 ] || bad_usage "--duration $duration_text: at least 10s"
[ "$delay_ms" -ge 1 ] || bad_usage "--delay $delay_text: at least 1ms"
[ -n "$rate" ] || rate=$((capacity * 1000 / delay_ms / 2))
[[ "$rate" =~ ^[1-9][0-9]*$ ]] || bad_usage "--rate $rate: expected a whole number of requests per second above 0"
# The warm-up whose RSS is the baseline: a minute, or 20% of a short run.
warm=$((duration / 5 < 60 ? duration / 5 : 60))

cd "$(dirname "$0")/.."
root=$(pwd)
[ -n "$out" ] || out="results/soak/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)

server_pid=""
client_pid=""
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
  for pid in "$client_pid" "$server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$build" = 1 ]; then
  echo "soak: building release binaries (cargo build --release --workspace)"
  cargo build --release --workspace --quiet || die "the build failed"
fi
server_bin="$root/target/release/mock-server"
client_bin="$root/target/release/load-client"
if [ ! -x "$server_bin" ] || [ ! -x "$client_bin" ]; then
  die "release binaries missing (run without --no-build)"
fi

# --- the server ------------------------------------------------------------
"$server_bin" --listen 127.0.0.1:0 --delay "${delay_ms}ms" --capacity "$capacity" \
  > "$out/server.stdout" 2> "$out/server.log" &
server_pid=$!
addr=""
for _ in $(seq 100); do
  addr=$(sed -n '1s#^mock-server listening on http://##p' "$out/server.stdout")
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || die "mock-server exited at start; see $out/server.log"
  sleep 0.1
done
[ -n "$addr" ] || die "mock-server did not print its address within 10 s"

# --- the client ------------------------------------------------------------
# The open loop opens a connection per request in flight and keeps it, so a
# scheduling hiccup that lets sends fall behind would leave the client (and
# the server) holding more connections for the rest of the run, which reads
# as memory growth. Bound the in-flight requests at 1.5x what the rate needs
# at the configured delay (Little's law) so the load, and the connection
# count, stay the same for the whole soak; a stall beyond it shows as late
# sends and latency, not as connections.
max_in_flight=$(( rate * delay_ms * 3 / 2000 + 8 ))
cat > "$out/soak.yaml" <<YAML
name: soak
description: Soak at ${rate} req/s against mock-server (delay ${delay_ms}ms, capacity ${capacity}) for ${duration}s.
url: http://${addr}/
request:
  timeout: 5s
cases:
  - name: soak
    executor: rate
    rate: ${rate}/s
    duration: ${duration}s
    max_in_flight: ${max_in_flight}
YAML

echo "soak: ${duration}s at ${rate} req/s against http://${addr}/ (delay ${delay_ms}ms, capacity ${capacity}); results in $out"
"$client_bin" run "$out/soak.yaml" --quiet --out "$out/client" > "$out/client.stdout" 2> "$out/client.log" &
client_pid=$!

# VmRSS in kB of a process, empty once it is gone.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# --- sampling, once a second on a fixed schedule ----------------------------
echo "second,client_rss_kb,server_rss_kb" > "$out/rss.csv"
start_ns=$(date +%s%N)
second=0
while kill -0 "$client_pid" 2>/dev/null; do
  client_rss=$(rss_kb "$client_pid")
  server_rss=$(rss_kb "$server_pid")
  [ -n "$client_rss" ] || break
  [ -n "$server_rss" ] || die "mock-server died during the soak; see $out/server.log"
  echo "$second,$client_rss,$server_rss" >> "$out/rss.csv"
  if [ $((second % 60)) -eq 0 ]; then
    echo "soak: ${second}s  client ${client_rss} kB  server ${server_rss} kB"
  fi
  second=$((second + 1))
  wait_ns=$((start_ns + second * 1000000000 - $(date +%s%N)))
  if [ "$wait_ns" -gt 0 ]; then
    sleep "$(printf '%d.%09d' $((wait_ns / 1000000000)) $((wait_ns % 1000000000)))"
  fi
done
client_code=0
wait "$client_pid" || client_code=$?
client_pid=""

# The server's final counters (printed on SIGTERM).
kill -TERM "$server_pid" 2>/dev/null || true
wait "$server_pid" || true
server_pid=""
tail -n 1 "$out/server.stdout" > "$out/server-final.json"

[ "$client_code" -le 1 ] || die "load-client failed with exit code $client_code; see $out/client.log"
timeline=$(find "$out/client" -name '*.timeline.csv' | head -n 1)
summary=$(find "$out/client" -name 'summary.csv' | head -n 1)
if [ -z "$timeline" ] || [ -z "$summary" ]; then
  die "load-client wrote no timeline or summary in $out/client"
fi

# --- soak.csv: RSS joined with the timeline by second -------------------------
awk -F, -v OFS=, '
  NR == FNR { if (FNR > 1) line[$1] = $2 OFS $3 OFS $4 OFS $5; next }
  FNR == 1 { print "second,client_rss_kb,server_rss_kb,ok,errors,p50_us,p99_us"; next }
  { print $1, $2, $3, ($1 in line ? line[$1] : ",,,") }
' "$timeline" "$out/rss.csv" > "$out/soak.csv"

# --- figures and checks -------------------------------------------------------
# The median of column $col over the rows whose second is in [from, to].
median_rss() {
  awk -F, -v col="$1" -v from="$2" -v to="$3" \
    'NR > 1 && $1 >= from && $1 <= to { print $col }' "$out/rss.csv" |
    sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
last=$((second - 1))
[ "$last" -ge $((warm + 10)) ] || die "only ${second} RSS samples; the run ended early (see $out/client.log)"
verdicts=()
failed=0
report_growth() { # name column
  local base end max growth
  base=$(median_rss "$2" "$warm" $((warm + 4)))
  end=$(median_rss "$2" $((last - 4)) "$last")
  max=$(awk -F, -v col="$2" -v from="$warm" 'NR > 1 && $1 >= from && $col > m { m = $col } END { print m + 0 }' "$out/rss.csv")
  growth=$(awk -v b="$base" -v e="$end" 'BEGIN { printf "%.1f", (e - b) * 100 / b }')
  local verdict=pass
  if awk -v g="$growth" 'BEGIN { exit !(g >= 5) }'; then verdict=FAIL; failed=1; fi
  verdicts+=("$(printf '%-6s RSS at %ss %s kB, at the end %s kB (max after warm-up %s kB): growth %s%% (< 5%%)  %s' \
    "$1" "$warm" "$base" "$end" "$max" "$growth" "$verdict")")
}
report_growth client 2
report_growth server 3

# Columns of summary.csv by name.
column() {
  awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } c { print $c; exit }' "$summary"
}
requests=$(column requests)
ok=$(column ok)
errors=$(column errors)
timeline_errors=$(awk -F, 'NR > 1 { e += $3 } END { print e + 0 }' "$timeline")
error_verdict=pass
if [ "${errors:-1}" != 0 ] || [ "$timeline_errors" != 0 ]; then error_verdict=FAIL; failed=1; fi
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
{
  echo "soak: ${duration}s at ${rate} req/s; server delay ${delay_ms}ms, capacity ${capacity}; client exit code ${client_code}"
  echo "requests ${requests}, ok ${ok}, errors ${errors} (timeline: ${timeline_errors})  ${error_verdict}"
  echo "latency from intended send time: p50 $(ms "$(column lat_p50_us)"), p99 $(ms "$(column lat_p99_us)"), max $(ms "$(column lat_max_us)"); service time p50 $(ms "$(column svc_p50_us)"), p99 $(ms "$(column svc_p99_us)")"
  printf '%s\n' "${verdicts[@]}"
  echo "server final counters: $(cat "$out/server-final.json")"
} | tee "$out/summary.txt"

# --- the plot -----------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1; then
  plot() { # terminal output
    gnuplot <<GNUPLOT
set terminal $1 size 1000,700
set output "$2"
set datafile separator ","
set key autotitle columnhead top left
set multiplot layout 2,1 title "soak: ${rate} req/s for ${duration}s (delay ${delay_ms}ms, capacity ${capacity})"
set grid
set ylabel "RSS (MiB)"
set yrange [0:*]
plot "$out/soak.csv" using 1:(\$2/1024) with lines lw 2 title "load-client", \
     "" using 1:(\$3/1024) with lines lw 2 title "mock-server"
set xlabel "second"
set ylabel "latency (ms)"
plot "$out/soak.csv" using 1:(\$6/1000) with lines lw 2 title "p50", \
     "" using 1:(\$7/1000) with lines lw 2 title "p99"
unset multiplot
GNUPLOT
  }
  plot svg "$out/soak.svg" && plot "pngcairo" "$out/soak.png" &&
    echo "plot: $out/soak.svg, $out/soak.png"
else
  echo "plot: skipped, gnuplot is not installed (apt-get install gnuplot-nox)"
fi

exit "$failed"
