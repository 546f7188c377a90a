#!/bin/sh
# bench/sbom.sh: SBOM generation benchmark (see the "sbom" section of
# bench/README.md). Generates a realistic image in memory (~400 dpkg packages,
# 20 Go binaries, 1,000 npm packages, jars, Python packages, ~4,700 files) and
# compares sbom/scalibr.Generate (streamed from the registry, nothing on disk)
# with osv-scalibr's own filesystem.Run over the same files already extracted
# to disk, and with extracting-then-scanning. Knobs (environment):
#   N=5      iterations per benchmark
#   COUNT=3  repetitions (for benchstat)
#   EXTRACT=1  also run the (slow) extract-then-scan baseline
set -eu
cd "$(dirname "$0")/.."
N=${N:-5}
COUNT=${COUNT:-3}
pattern='BenchmarkGenerate|BenchmarkScalibrOnDisk'
if [ "${EXTRACT:-0}" = 1 ]; then
	pattern="$pattern|BenchmarkScalibrExtractAndScan"
fi
go test ./sbom/scalibr/ -run '^$' -bench "$pattern" -benchtime "${N}x" -count "$COUNT" -benchmem 2>/dev/null |
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)'
