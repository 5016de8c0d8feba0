#!/usr/bin/env bash
# Every figure of docs/PERFORMANCE.md in one run, on this machine: the side-by-side runs (direct,
# through the proxy, through Postfix; interleaved, medians of 3), the sessions sweep and its chart,
# paced latency, BoringSSL against the JDK with `openssl speed` beside it, the memory
# measurements and the JMH microbenchmarks. Bounded: about 30 minutes on 2 cores.
# Usage: scripts/bench-report.sh [output-dir]   (default target/perf; needs root for Postfix)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/perf}
mkdir -p "$out"
if ! command -v postfix >/dev/null 2>&1; then
    apt-get update -q
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix
fi
echo "== $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/machine.txt"
BENCH_POSTFIX=1 BENCH_SWEEP=1,5,10,25,50,100 BENCH_RATE=200 BENCH_TLS=1 BENCH_CSV="$out/side-by-side.csv" \
    timeout -k 10 1500 scripts/bench-side-by-side.sh 50 3000 3 1024 10240 1048576 | tee "$out/side-by-side.txt"
python3 scripts/plot-sweep.py "$out/side-by-side.csv" "$out/msgs-vs-sessions.svg"
timeout -k 10 600 scripts/bench-memory.sh | tee "$out/memory.txt"
timeout -k 10 900 scripts/bench-jmh.sh | tee "$out/jmh.txt"
echo "results in $out (chart: $out/msgs-vs-sessions.svg)"
