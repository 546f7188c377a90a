#!/bin/sh
# bench/sbom.sh: SBOM generation and SBOM + malware in one pass, against
# osv-scalibr and syft (see the "sbom" section of bench/README.md).
#
# The image is built at run time (bench/sbombench/image_test.go): 130 dpkg
# packages with real-size status entries and copyright files (27 free text,
# copied from Debian 12), the local Go toolchain's binaries, an npm tree of
# 85 packages; ~166 MB of files, gzip layers in an OCI layout. Nothing is
# downloaded at run time.
#
# Knobs (environment):
#   N=3            iterations per benchmark
#   COUNT=1        repetitions
#   OSV_SCALIBR=   path of the osv-scalibr CLI (also measured when given)
#   SYFT=          path of syft (also measured when given)
#   BUILD_PEERS=1  build both from the Go module proxy first (slow: syft
#                  takes about an hour of CPU on 2 cores; osv-scalibr ~4 min)
#   SKIP_RSS=1     skip the peak-memory runs (one child process per mode)
#   CLAMD_TMPDIR=  clamd's TemporaryDirectory (e.g. /dev/shm); default: its
#                  own directory under $TMPDIR
#   CLAMD_NICE=    clamd's nice value (e.g. 10); default: this shell's
#   PAIRS=16       iterations of BenchmarkOnePassOverSBOM (SBOM alone and
#                  one pass back to back; 0 skips it)
#   MEMCLASSES=1   with the peak-memory runs, log each child's Go runtime
#                  memory classes (runtime/metrics) at its peak
set -eu
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
N=${N:-3}
COUNT=${COUNT:-1}
if [ "${BUILD_PEERS:-0}" = 1 ]; then
	bin=$(mktemp -d)
	GOBIN=$bin go install github.com/google/osv-scalibr/binary/scalibr@v0.5.3
	GOBIN=$bin go install github.com/anchore/syft/cmd/syft@v1.57.2
	OSV_SCALIBR=${OSV_SCALIBR:-$bin/scalibr}
	SYFT=${SYFT:-$bin/syft}
fi
export OSV_SCALIBR=${OSV_SCALIBR:-} SYFT=${SYFT:-}
go test ./bench/sbombench -run '^$' -bench BenchmarkSBOM -benchtime "${N}x" -count "$COUNT" -timeout 60m 2>/dev/null |
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)'
if [ "${PAIRS:-16}" != 0 ]; then
	go test ./bench/sbombench -run '^$' -bench BenchmarkOnePassOverSBOM -benchtime "${PAIRS:-16}x" -count "$COUNT" -timeout 60m 2>/dev/null |
		grep -E '^Benchmark'
fi
if [ "${SKIP_RSS:-0}" != 1 ]; then
	SBOMBENCH_RSS=1 SBOMBENCH_MEMCLASSES=${MEMCLASSES:-} go test ./bench/sbombench -count 1 -run '^TestPeakRSS$' -v -timeout 60m 2>/dev/null |
		grep -E 'peak RSS|memory classes'
fi
