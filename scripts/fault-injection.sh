#!/usr/bin/env bash
# The long fault-injection load run (docs/RELIABILITY.md): MESSAGES messages from SENDERS concurrent
# senders through the real proxy to an upstream that fails at random and is restarted every few
# seconds; prints the figures and exits non-zero if any invariant broke. Bounded: it ends when the
# messages are sent (or after 30 minutes at most).
# With PROXY_RESTART_EVERY (e.g. 5s) the proxy runs in a JVM of its own and is stopped that often
# under the load, by SIGTERM and SIGKILL in turn, and started again.
# Usage: scripts/fault-injection.sh [MESSAGES (10000)] [SENDERS (100)] [PROXY_RESTART_EVERY]
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -o -DskipTests install -pl benchmarks -am >/dev/null 2>&1 || ./mvnw -q -DskipTests install -pl benchmarks -am
cp=$(./mvnw -q -o -pl benchmarks dependency:build-classpath -Dmdep.outputFile=/dev/stdout)
exec timeout 1800 java -Xmx2g \
    -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/test/resources/logback-test.xml \
    -cp "benchmarks/target/classes:$cp" org.smtptlsproxy.bench.FaultInjectionLoad "${1:-10000}" "${2:-100}" ${3:+"$3"}
