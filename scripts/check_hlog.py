#!/usr/bin/env python3
"""Reads a load-client results folder with HdrHistogram's own Python
implementation (the `hdrhistogram` package on PyPI) and checks that:

- every interval of every `<case>.hlog` decodes with `HistogramLogReader`,
- the interval counts of a case add up to its `ok` column in summary.csv,
- `<case>.hdr` decodes to one histogram of exactly `ok` values whose median
  matches summary.csv's `lat_p50_us`;
- with a request mix, each entry's row (`request` set) is checked the same
  way against `<case>@<entry>.hdr` (an entry has no `.hlog` of its own).

Usage: scripts/check_hlog.py RESULTS_DIR    (exit 0 ok, 1 a check failed)
"""
import csv
import sys
from pathlib import Path

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def interval_lines(path):
    """Interval lines of an .hlog: not comments, not the legend."""
    with open(path, encoding="utf-8") as f:
        return [l for l in f if l.strip() and not l.startswith(("#", '"'))]


def check_hdr(hdr, row, ok):
    """The histogram of `hdr` against the row: its count, its median."""
    problems = []
    whole = HdrHistogram.decode(hdr.read_text(encoding="utf-8").strip())
    if whole.get_total_count() != ok:
        problems.append(f"{hdr.name}: {whole.get_total_count()} values, summary.csv ok = {ok}")
    if ok and row["lat_p50_us"]:
        p50, want = whole.get_value_at_percentile(50), int(row["lat_p50_us"])
        if abs(p50 - want) > max(2, want // 500):
            problems.append(f"{hdr.name}: p50 {p50} us, summary.csv lat_p50_us = {want}")
    return whole.get_total_count(), problems


def check_case(folder, row):
    stem = row["case"] if row["repetition"] == "1" else f"{row['case']}-r{row['repetition']}"
    ok = int(row["ok"])
    if row.get("request"):
        hdr = folder / f"{stem}@{row['request']}.hdr"
        count, problems = check_hdr(hdr, row, ok)
        print(f"{stem} request {row['request']}: {hdr.name}: {count} values"
              f"{'' if not problems else ' -- FAILED'}")
        return problems
    problems = []

    hlog = folder / f"{stem}.hlog"
    expected = len(interval_lines(hlog))
    reader = HistogramLogReader(str(hlog), HdrHistogram(1, 3_600_000_000, 2))
    decoded, total = 0, 0
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        decoded += 1
        total += h.get_total_count()
    if decoded != expected:
        problems.append(f"{hlog.name}: {decoded} of {expected} intervals decoded")
    if total != ok:
        problems.append(f"{hlog.name}: intervals hold {total} values, summary.csv ok = {ok}")

    hdr = folder / f"{stem}.hdr"
    count, more = check_hdr(hdr, row, ok)
    problems += more
    print(f"{stem}: {decoded} intervals, {total} values; {hdr.name}: {count} values"
          f"{'' if not problems else ' -- FAILED'}")
    return problems


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_hlog.py RESULTS_DIR")
    folder = Path(sys.argv[1])
    with open(folder / "summary.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{folder}/summary.csv has no case")
    problems = [p for row in rows for p in check_case(folder, row)]
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
