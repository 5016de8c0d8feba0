#!/usr/bin/env bash
# JMH microbenchmarks of the hot paths: command decoder, DATA framer, inbound TLS handshakes.
# Usage: scripts/bench-jmh.sh [JMH args...]
#   no args: every benchmark with the short settings of their annotations
#            (1 fork, 3 × 1 s warmup, 5 × 1 s measurement; about 5 minutes in all)
#   e.g.     scripts/bench-jmh.sh TlsHandshake -p provider=OPENSSL -p protocol=TLSv1.3
#            scripts/bench-jmh.sh DataFramer -f 3 -wi 5 -i 10 -r 2s    (a steadier run)
#            scripts/bench-jmh.sh -l | -lp | -h                         (list, params, JMH help)
# Arguments override the annotations one by one, so a regex alone keeps the short settings.
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -DskipTests install
./mvnw -q -B -pl benchmarks dependency:build-classpath -Dmdep.outputFile=bench.classpath >/dev/null
# The JDK disables TLS 1.0/1.1 unless this override is read at startup; JMH forks inherit the
# host JVM's flags.
exec java -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/test/resources/logback-test.xml \
    -cp "benchmarks/target/classes:$(cat benchmarks/bench.classpath)" org.openjdk.jmh.Main "$@"
