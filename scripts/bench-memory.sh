#!/usr/bin/env bash
# Memory of the real proxy process (java -jar proxy-server/target/smtp-tls-proxy.jar run):
#  A. heap after a full GC, RSS and Netty direct memory with N idle inbound sessions, plaintext and
#     STARTTLS TLS 1.2, against a baseline (proxy started with -Xmx256m);
#  B. one large message through a proxy started with -Xmx64m -XX:MaxDirectMemorySize=64m, relayed
#     over STARTTLS to a hashing sink: 250, SHA-256 equal, time, MiB/s, the proxy's peak RSS;
#  C. the same through a listener with delivery: spool (stored and fsynced, then delivered).
# Usage: scripts/bench-memory.sh [connections] [tls-connections] [message-mib]
# Default: 10000 10000 1024. Bounded: each step has a time limit, about 13 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-10000}
tls_connections=${2:-10000}
message_mib=${3:-1024}

# Each idle session is a descriptor in the client JVM and one in the proxy, which inherits the limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
max=$(( connections > tls_connections ? connections : tls_connections ))
if [ "$(ulimit -n)" -lt $(( max + 500 )) ]; then
    echo "bench-memory: $(ulimit -n) file descriptors allowed, $(( max + 500 )) needed" >&2
    exit 1
fi

# Package in the reactor (no install into ~/.m2): the jar, and the benchmarks' class path.
timeout -k 10 180 ./mvnw -q -B -DskipTests -pl benchmarks -am package \
    dependency:build-classpath -Dmdep.outputFile=target/bench.classpath
cp="benchmarks/target/classes:$(cat benchmarks/target/bench.classpath)"
jar=proxy-server/target/smtp-tls-proxy.jar
echo "proxy jar: $jar; java: $(java -version 2>&1 | head -1); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

status=0
timeout -k 10 210 java -Xmx1g -cp "$cp" org.smtptlsproxy.bench.IdleConnectionsMemory --jar "$jar" \
    --connections "$connections" --tls-connections "$tls_connections" --deadline-seconds 80 || status=1
timeout -k 10 150 java -Xmx1g -cp "$cp" org.smtptlsproxy.bench.LargeMessageRelay --jar "$jar" \
    --size-mib "$message_mib" --deadline-seconds 130 || status=1
# The same message into a spooling listener: written to the spool, fsynced, 250, then read back and
# delivered; memory must stay as flat as cut-through's (the spool is in a temp directory).
timeout -k 10 210 java -Xmx1g -cp "$cp" org.smtptlsproxy.bench.LargeMessageRelay --jar "$jar" \
    --size-mib "$message_mib" --spool --deadline-seconds 190 || status=1
exit $status
