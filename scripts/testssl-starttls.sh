#!/usr/bin/env bash
# Audits the TLS of a STARTTLS listener with testssl.sh (Debian package testssl.sh).
# Without arguments it starts the demo (its listener on 127.0.0.1:2525, or the next free port)
# and audits that; with HOST:PORT it audits a running proxy instead.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v testssl >/dev/null || { echo "install testssl.sh first: apt-get install -y testssl.sh" >&2; exit 1; }
target=${1:-}
demo_pid=
if [ -z "$target" ]; then
    jar=proxy-server/target/smtp-tls-proxy.jar
    [ -f "$jar" ] || ./mvnw -q -DskipTests package
    log=$(mktemp)
    java -jar "$jar" demo >"$log" 2>&1 &
    demo_pid=$!
    trap 'kill $demo_pid 2>/dev/null || true; rm -f "$log"' EXIT
    for _ in $(seq 1 60); do
        target=$(grep -o 'proxy SMTP *[0-9.]*:[0-9]*' "$log" | awk '{print $3}' || true)
        [ -n "$target" ] && break
        sleep 0.5
    done
    [ -n "$target" ] || { echo "the demo did not start:" >&2; cat "$log" >&2; exit 1; }
fi
testssl --starttls smtp --quiet --color 0 --warnings off --sneaky -p -s -S -U "$target"
