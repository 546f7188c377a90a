#!/bin/sh
# bench/clamav.sh: malware scanning benchmark (see the "clamav" section of
# bench/README.md). Needs clamd, clamscan and clamdscan (Debian:
# apt-get install -y clamav-daemon clamdscan). Generates a ~96 MiB,
# 1,505-file image (text, binaries, large blobs, one EICAR file) in an
# in-memory registry and compares scan/clamav (streaming the image to a real
# clamd over INSTREAM, nothing on disk) with clamscan and clamdscan
# --multiscan on the same files extracted to disk (extraction not timed). All
# use the same tiny test signature database (scan/clamav/clamdtest). Knobs
# (environment):
#   N=2      iterations per benchmark
#   COUNT=1  repetitions (for benchstat)
set -eu
cd "$(dirname "$0")/.."
N=${N:-2}
COUNT=${COUNT:-1}
for tool in clamd clamscan clamdscan; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
		echo "bench/clamav.sh: $tool not installed (apt-get install -y clamav-daemon clamdscan)" >&2
	fi
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./scan/clamav/ -run '^$' -bench 'BenchmarkClamdImage|BenchmarkClamscanExtracted|BenchmarkClamdscanExtracted' \
	-benchtime "${N}x" -count "$COUNT" -timeout 30m 2>/dev/null |
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)' | tee "$out"
awk '
		/BenchmarkClamdImage/ { for (i = 1; i <= NF; i++) if ($i == "MB/s") { if ($(i-1) > best) best = $(i-1) } }
		/BenchmarkClamscanExtracted/ { for (i = 1; i <= NF; i++) if ($i == "MB/s") base = $(i-1) }
		/BenchmarkClamdscanExtracted/ { for (i = 1; i <= NF; i++) if ($i == "MB/s") dbase = $(i-1) }
		END {
			if (base > 0) printf "scan/clamav best %.2f MB/s = %.2fx clamscan (goal >= 0.8x)\n", best, best / base
			if (dbase > 0) printf "scan/clamav best %.2f MB/s = %.2fx clamdscan --multiscan\n", best, best / dbase
		}' "$out"
