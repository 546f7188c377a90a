#!/usr/bin/env bash
# Benchmarks of scan/osv: loading 100,000 generated OSV records from
# per-ecosystem all.zip files, and matching 10,000 packages against them.
# Knobs: N iterations per benchmark (default 3), COUNT repetitions (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./scan/osv/ -run '^$' -bench . -benchtime "${N:-3}x" -count "${COUNT:-1}" -benchmem -timeout 60m
