#!/usr/bin/env bash
# Runs every scenario in scenarios/ and puts the results into one folder,
# one subfolder per scenario.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/run-all.sh [OUT_DIR]

Runs every scenarios/*.yaml with the release build of load-client.
OUT_DIR defaults to results/all/<timestamp>. Exits non-zero if any run did,
after running all of them.
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
cd "$(dirname "$0")/.."
out="${1:-results/all/$(date -u +%Y%m%dT%H%M%SZ)}"
cargo build --release --locked -p load-client --quiet
status=0
for scenario in scenarios/*.yaml; do
  name=$(basename "$scenario" .yaml)
  echo "== $name"
  target/release/load-client run "$scenario" --out "$out/$name" || status=$?
done
echo "results in $out"
exit "$status"
