#!/bin/sh
# bench/import.sh: import benchmark (see the "import" section of bench/README.md).
# Imports 1 GiB images from one loopback registry to another with
# acquire.ORASImporter and with crane copy, in the same run, and reports
# throughput and peak RSS. Knobs (environment):
#   N=3                  iterations per case
#   KIND=distribution-fs registry kind: distribution-fs, distribution-mem, ociregistry
#   CSSC_BENCH_IMAGES=big,one   images: big = 4 x 256 MiB layers, one = 1 x 1 GiB layer
set -eu
cd "$(dirname "$0")/.."
N=${N:-3}
KIND=${KIND:-distribution-fs}
GOBIN=$(go env GOPATH)/bin
(cd / && go install github.com/google/go-containerregistry/cmd/crane@v0.22.1)
CRANE=$GOBIN/crane
tmp=$(mktemp -d)
trap 'kill $reg 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
go build -o "$tmp/benchregistry" ./internal/bench/importbench/cmd/benchregistry
go test -c -o "$tmp/importbench.test" ./internal/bench/importbench

echo "seeding source registry ($KIND) with random images..."
"$tmp/benchregistry" -kind "$KIND" -dir "$tmp/data" >"$tmp/reg.out" 2>&1 &
reg=$!
while ! grep -q READY "$tmp/reg.out"; do
	kill -0 $reg 2>/dev/null || { cat "$tmp/reg.out"; exit 1; }
	sleep 0.5
done
CSSC_BENCH_SRC=$(sed -n 's/^SRC=//p' "$tmp/reg.out")
CSSC_BENCH_DST=$(sed -n 's/^DST=//p' "$tmp/reg.out")
export CSSC_BENCH_SRC CSSC_BENCH_DST CRANE

echo "== go benchmark (cssc and crane interleaved, ${N} iterations each)"
"$tmp/importbench.test" -test.run '^$' -test.bench BenchmarkImport -test.benchtime "${N}x" | tee "$tmp/bench.txt"

echo "== peak RSS with /usr/bin/time -v, single 1 GiB layer"
if [ -x /usr/bin/time ]; then
	CSSC_BENCH_TOOLS=cssc CSSC_BENCH_IMAGES=one /usr/bin/time -v "$tmp/importbench.test" -test.run '^$' \
		-test.bench BenchmarkImport -test.benchtime 1x 2>"$tmp/time-cssc.txt" >/dev/null
	/usr/bin/time -v "$CRANE" copy --insecure "$CSSC_BENCH_SRC/bench/app:one" "$CSSC_BENCH_DST/bench/crane-rss:one" \
		2>"$tmp/time-crane.txt" >/dev/null
	printf 'cssc  (benchmark binary): %s\n' "$(grep 'Maximum resident' "$tmp/time-cssc.txt")"
	printf 'crane copy              : %s\n' "$(grep 'Maximum resident' "$tmp/time-crane.txt")"
fi
