#!/usr/bin/env bash
# The soak of docs/RELIABILITY.md: MINUTES (15) of the fault-injection mix from SENDERS (50)
# senders against the proxy in a JVM of its own, which is sampled every 30 s (heap after a full
# GC, RSS, open files, Netty direct memory, event-loop queues). Prints the samples and whether each
# stayed flat; exits 1 on a trend or a broken invariant. Bounded: it ends after MINUTES (and is
# killed after MINUTES + 10 at the latest).
# Usage: scripts/soak.sh [MINUTES] [SENDERS]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-15}
./mvnw -q -o -DskipTests install -pl benchmarks -am >/dev/null 2>&1 || ./mvnw -q -DskipTests install -pl benchmarks -am
cp=$(./mvnw -q -o -pl benchmarks dependency:build-classpath -Dmdep.outputFile=/dev/stdout)
exec timeout $(( (minutes + 10) * 60 )) java -Xmx2g \
    -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/test/resources/logback-test.xml \
    -cp "benchmarks/target/classes:$cp" org.smtptlsproxy.bench.Soak "$minutes" "${2:-50}"
