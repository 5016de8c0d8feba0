#!/usr/bin/env bash
# Durable spool commits per second (issue 13): 1 and 50 writers of 1 KiB messages, naive
# fsync-per-message against group commit, on the disk holding DIR. Bounded: 4 variants of SECONDS.
# Usage: scripts/bench-spool.sh [dir] [size-bytes] [seconds]   (default: a temp dir, 1024, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
timeout -k 10 180 ./mvnw -q -B -o -DskipTests -pl benchmarks -am package \
    dependency:build-classpath -Dmdep.outputFile=target/bench.classpath
cp="benchmarks/target/classes:$(cat benchmarks/target/bench.classpath)"
dir=${1:-$(mktemp -d)}
timeout -k 10 300 java -Xmx512m -cp "$cp" org.smtptlsproxy.bench.SpoolCommitBench "$dir" "${2:-1024}" "${3:-10}"
