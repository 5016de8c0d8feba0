#!/usr/bin/env bash
# Side-by-side load: the same messages straight to a fast STARTTLS TLS 1.2+ sink and through the
# proxy to it, interleaved round by round; prints medians, ratios and the loss check.
# Usage: scripts/bench-side-by-side.sh [sessions] [messages] [rounds] [sizes...]
# Default: 50 sessions, 2000 messages per run, 3 rounds, sizes 1 KiB, 10 KiB and 1 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -DskipTests install
./mvnw -q -B -pl benchmarks dependency:build-classpath -Dmdep.outputFile=bench.classpath >/dev/null
exec java -Xmx2g -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/test/resources/logback-test.xml \
    -cp "benchmarks/target/classes:$(cat benchmarks/bench.classpath)" org.smtptlsproxy.bench.SideBySide "$@"
