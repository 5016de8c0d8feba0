#!/usr/bin/env bash
# Side-by-side load: the same messages straight to a fast STARTTLS TLS 1.2+ sink, through the
# proxy to it and (with BENCH_POSTFIX=1) through a private Postfix relay to it, interleaved round
# by round; prints medians, ratios, CPU per message and the loss check.
# Usage: scripts/bench-side-by-side.sh [sessions] [messages] [rounds] [sizes...]
# Default: 50 sessions, 2000 messages per run, 3 rounds, sizes 1 KiB, 10 KiB and 1 MiB.
# Extra sections through the environment: BENCH_SWEEP=1,10,50 (msg/s versus sessions at 1 KiB),
# BENCH_RATE=200 (paced latency), BENCH_TLS=1 (BoringSSL against the JDK: handshakes, 1 MiB relay),
# BENCH_CSV=FILE (every median row as CSV), BENCH_PROXY_PROCESS=0 (the proxy in the benchmark's
# JVM, measured by the CPU of its threads; default: in a JVM of its own, its CPU, GC and JIT
# included, read from /proc like Postfix's), BENCH_VERBOSE=1 (every run, not only medians),
# BENCH_BASELINE=REV (a git revision built in a scratch worktree and run as path "baseline" next to
# this checkout's proxy, both in JVMs of their own: before/after in one interleaved run).
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -DskipTests install
./mvnw -q -B -pl benchmarks dependency:build-classpath -Dmdep.outputFile=bench.classpath >/dev/null
props=()
if [ -n "${BENCH_BASELINE:-}" ]; then
    baseline_dir="${TMPDIR:-/tmp}/smtp-tls-proxy-baseline"
    git worktree remove --force "$baseline_dir" 2>/dev/null || rm -rf "$baseline_dir"
    git worktree add --detach "$baseline_dir" "$BENCH_BASELINE" >/dev/null
    trap 'git worktree remove --force "$baseline_dir"' EXIT
    # package, not install: the baseline must not replace this checkout's artifacts in ~/.m2.
    (cd "$baseline_dir" && ./mvnw -q -B -DskipTests -pl proxy-server -am package)
    props+=("-Dbench.baseline=$baseline_dir/proxy-server/target/smtp-tls-proxy.jar")
fi
if [ "${BENCH_POSTFIX:-0}" = 1 ]; then
    scripts/postfix-relay.sh start 2600 2526
    trap 'scripts/postfix-relay.sh stop; [ -z "${baseline_dir:-}" ] || git worktree remove --force "$baseline_dir"' EXIT
    props+=(-Dbench.postfix=127.0.0.1:2526 -Dbench.sinkPort=2600
            "-Dbench.postfixPid=$(head -n 1 "${POSTFIX_BENCH_DIR:-/tmp/postfix-bench}/queue/pid/master.pid" | tr -d ' ')")
fi
[ -n "${BENCH_SWEEP:-}" ] && props+=("-Dbench.sweep=$BENCH_SWEEP")
[ -n "${BENCH_RATE:-}" ] && props+=("-Dbench.rate=$BENCH_RATE")
[ "${BENCH_TLS:-0}" = 1 ] && props+=(-Dbench.tls=true)
[ "${BENCH_PROXY_PROCESS:-1}" = 0 ] && props+=(-Dbench.proxyProcess=false)
[ "${BENCH_VERBOSE:-0}" = 1 ] && props+=(-Dbench.verbose=true)
[ -n "${BENCH_CSV:-}" ] && props+=("-Dbench.csv=$BENCH_CSV")
java -Xmx2g "${props[@]}" -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/main/resources/logback-bench.xml \
    -cp "benchmarks/target/classes:$(cat benchmarks/bench.classpath)" org.smtptlsproxy.bench.SideBySide "$@"
