#!/usr/bin/env bash
# Side-by-side load: the same messages straight to a fast STARTTLS TLS 1.2+ sink and through the
# proxy to it, interleaved round by round; prints medians, ratios and the loss check.
# Usage: scripts/bench-side-by-side.sh [sessions] [messages] [rounds] [sizes...]
# Default: 50 sessions, 2000 messages per run, 3 rounds, sizes 1 KiB, 10 KiB and 1 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -DskipTests install
./mvnw -q -B -pl benchmarks dependency:build-classpath -Dmdep.outputFile=bench.classpath >/dev/null
# With BENCH_POSTFIX=1 a private Postfix relay (scripts/postfix-relay.sh) runs as the third path.
extra=()
if [ "${BENCH_POSTFIX:-0}" = 1 ]; then
    scripts/postfix-relay.sh start 2600 2526
    trap 'scripts/postfix-relay.sh stop' EXIT
    extra=(-Dbench.postfix=127.0.0.1:2526 -Dbench.sinkPort=2600)
fi
java -Xmx2g "${extra[@]}" -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/test/resources/logback-test.xml \
    -cp "benchmarks/target/classes:$(cat benchmarks/bench.classpath)" org.smtptlsproxy.bench.SideBySide "$@"
