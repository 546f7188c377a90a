#!/usr/bin/env bash
# Benchmarks of catalog/postgres on a PostgreSQL 15 server the test binary
# starts on loopback: search over 100,000 entries by query class, reverse
# queries over 10,000 images of 200 packages, and Put. Loading the corpora
# takes about a minute and happens once per run.
# Knobs: N iterations per query (default 200), ENTRIES and IMAGES shrink
# the corpora while iterating.
set -euo pipefail
cd "$(dirname "$0")/.."
CSSC_BENCH_ENTRIES="${ENTRIES:-100000}" CSSC_BENCH_IMAGES="${IMAGES:-10000}" \
  go test ./catalog/postgres/ -run '^$' -bench "${BENCH:-Search|Reverse|Put}" -benchtime "${N:-200}x" -timeout 120m -v |
  grep -Ev '^(=== RUN|goos|goarch|pkg|cpu)'
