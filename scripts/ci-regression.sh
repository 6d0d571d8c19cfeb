#!/usr/bin/env bash
# Runs scenarios/ci-smoke.yaml and compares the result with the committed
# baseline in results/baseline/, judged with the tolerances in
# results/baseline/tolerances.txt. Exits with compare's code (0 no
# regression, 1 regression, 2 an input could not be read), or 1 if a check
# in the scenario failed, or the run's own error code (2 bad input, 3 the
# run could not be done).
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/ci-regression.sh [--set PATH=VALUE]... [--out DIR] [--baseline DIR]

Runs the ci-smoke scenario (each case 3 times), then compares it with the
baseline (tolerances from BASELINE/tolerances.txt, when it exists) and
prints a Markdown table (also appended to $GITHUB_STEP_SUMMARY when that is
set).

  --set PATH=VALUE  passed to `load-client run` (e.g. server.delay=30ms)
  --out DIR         results folder (default: results/ci-regression/<timestamp>)
  --baseline DIR    baseline folder (default: results/baseline)
  -h, --help        this text
USAGE
}

cd "$(dirname "$0")/.."
sets=()
out="results/ci-regression/$(date -u +%Y%m%dT%H%M%SZ)"
baseline="results/baseline"
while [ $# -gt 0 ]; do
  case "$1" in
    --set) sets+=(--set "$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --baseline) baseline="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p load-client --quiet
client=target/release/load-client

run_code=0
"$client" run scenarios/ci-smoke.yaml --quiet --repeat 3 --out "$out" "${sets[@]+"${sets[@]}"}" || run_code=$?
if [ "$run_code" -ge 2 ]; then
  echo "ci-regression: the run failed with exit code $run_code" >&2
  exit "$run_code"
fi

# The baseline's tolerances: comment lines dropped, the rest joined by commas.
tolerances=""
if [ -f "$baseline/tolerances.txt" ]; then
  tolerances=$(grep -v '^[[:space:]]*#' "$baseline/tolerances.txt" | tr '\n' ',')
fi

compare_code=0
"$client" compare "$baseline" "$out" --format markdown --max-regression "$tolerances" \
  > "$out/compare.md" || compare_code=$?
cat "$out/compare.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out/compare.md" >> "$GITHUB_STEP_SUMMARY"
fi
if [ "$compare_code" -ge 2 ]; then
  echo "ci-regression: compare could not read its inputs (exit $compare_code)" >&2
  exit "$compare_code"
fi
if [ "$run_code" -eq 1 ]; then
  echo "ci-regression: a check in scenarios/ci-smoke.yaml failed" >&2
  exit 1
fi
exit "$compare_code"
