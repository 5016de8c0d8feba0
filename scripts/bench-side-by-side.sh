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
# TLS senders: BENCH_SENDER_TLS=1.0,1.2,1.3 adds, after the plaintext rows, one section per version
# where senders do STARTTLS with that version pinned, a full handshake per connection, one 1 KiB
# message each, to the proxy (a second listener with the senders' certificate), to Postfix (the
# same certificate) and straight to the sink (1.2 and 1.3 only: it is Exchange-like); with CPU per
# message and per handshake against `openssl speed`. BENCH_RESUME=1 adds a resuming sender next to
# each full-handshake one; BENCH_IMPLICIT_TLS=1 makes the senders use implicit TLS instead of
# STARTTLS. The certificate: BENCH_CERT=rsa (default, RSA-2048) or ecdsa (P-256), made here, or
# BENCH_CERT_FILE and BENCH_KEY_FILE (PEM) for a pair of your own.
# Spool mode: BENCH_SPOOL=1 adds the path "spool", a proxy whose listener has `delivery: spool`, its
# spool next to Postfix's queue directory (same file system, so both fsync to the same disk), and
# with BENCH_BASELINE also "spool-base", the baseline's build spooling; their rows add the 250s per
# second as the senders saw them, fsyncs per message and the time the spool took to drain (every
# run checks that it drains to empty).
# The pool: the proxy's default unless BENCH_MAX_IDLE=N. BENCH_JFR=FILE records a JFR profile of the
# proxy (its own JVM) for the whole run; of the path BENCH_JFR_PATH (e.g. spool) instead of "proxy". Ports: BENCH_SINK_PORT (2600), BENCH_POSTFIX_PORT (2526),
# BENCH_POSTFIX_SMTPS_PORT (2527, implicit TLS). BENCH_WARMUP_ROUNDS caps the warm-up (default 12 rounds).
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
sink_port=${BENCH_SINK_PORT:-2600}
postfix_port=${BENCH_POSTFIX_PORT:-2526}
smtps_port=${BENCH_POSTFIX_SMTPS_PORT:-2527}
if [ -n "${BENCH_SENDER_TLS:-}" ]; then
    props+=("-Dbench.senderTls=$BENCH_SENDER_TLS")
    [ "${BENCH_RESUME:-0}" = 1 ] && props+=(-Dbench.resume=true)
    [ "${BENCH_IMPLICIT_TLS:-0}" = 1 ] && props+=(-Dbench.implicitTls=true)
    if [ -z "${BENCH_CERT_FILE:-}" ]; then
        cert_dir=$(mktemp -d)
        BENCH_CERT_FILE=$cert_dir/cert.pem
        BENCH_KEY_FILE=$cert_dir/key.pem
        case ${BENCH_CERT:-rsa} in
        rsa) key_options=(-newkey rsa:2048) ;;
        ecdsa) key_options=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
        *) echo "BENCH_CERT: rsa or ecdsa" >&2; exit 2 ;;
        esac
        openssl req -x509 "${key_options[@]}" -nodes -days 30 -subj /CN=proxy.bench.invalid \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$BENCH_KEY_FILE" -out "$BENCH_CERT_FILE" 2>/dev/null
    fi
    props+=("-Dbench.senderCert=$BENCH_CERT_FILE" "-Dbench.senderKey=$BENCH_KEY_FILE")
fi
if [ "${BENCH_POSTFIX:-0}" = 1 ]; then
    if [ -n "${BENCH_SENDER_TLS:-}" ]; then
        export POSTFIX_TLS_CERT=$BENCH_CERT_FILE POSTFIX_TLS_KEY=$BENCH_KEY_FILE
        if [ "${BENCH_IMPLICIT_TLS:-0}" = 1 ]; then
            export POSTFIX_SMTPS_PORT=$smtps_port
            props+=("-Dbench.postfixSmtps=127.0.0.1:$smtps_port")
        fi
    fi
    scripts/postfix-relay.sh start "$sink_port" "$postfix_port"
    trap 'scripts/postfix-relay.sh stop; [ -z "${baseline_dir:-}" ] || git worktree remove --force "$baseline_dir"' EXIT
    props+=("-Dbench.postfix=127.0.0.1:$postfix_port" "-Dbench.sinkPort=$sink_port"
            "-Dbench.postfixPid=$(head -n 1 "${POSTFIX_BENCH_DIR:-/tmp/postfix-bench}/queue/pid/master.pid" | tr -d ' ')")
fi
if [ "${BENCH_SPOOL:-0}" = 1 ]; then
    postfix_dir=${POSTFIX_BENCH_DIR:-/tmp/postfix-bench}
    spool_parent=$(dirname "$postfix_dir")/smtp-tls-proxy-spool-bench
    mkdir -p "$spool_parent"
    echo "spools in $spool_parent ($(df --output=source "$spool_parent" | tail -n 1)); Postfix's queue in $postfix_dir/queue ($(df --output=source "$(dirname "$postfix_dir")" | tail -n 1))"
    props+=("-Dbench.spool=$spool_parent")
fi
[ -n "${BENCH_WARMUP_ROUNDS:-}" ] && props+=("-Dbench.warmupRounds=$BENCH_WARMUP_ROUNDS")
[ -n "${BENCH_JFR_PATH:-}" ] && props+=("-Dbench.profilePath=$BENCH_JFR_PATH")
[ -n "${BENCH_MAX_IDLE:-}" ] && props+=("-Dbench.maxIdle=$BENCH_MAX_IDLE")
[ -n "${BENCH_JFR:-}" ] && props+=("-Dbench.proxyJvmOptions=-XX:StartFlightRecording=filename=$(realpath -m "$BENCH_JFR"),settings=profile,dumponexit=true")
[ -n "${BENCH_SWEEP:-}" ] && props+=("-Dbench.sweep=$BENCH_SWEEP")
[ -n "${BENCH_RATE:-}" ] && props+=("-Dbench.rate=$BENCH_RATE")
[ "${BENCH_TLS:-0}" = 1 ] && props+=(-Dbench.tls=true)
[ "${BENCH_PROXY_PROCESS:-1}" = 0 ] && props+=(-Dbench.proxyProcess=false)
[ "${BENCH_VERBOSE:-0}" = 1 ] && props+=(-Dbench.verbose=true)
[ -n "${BENCH_CSV:-}" ] && props+=("-Dbench.csv=$BENCH_CSV")
# This checkout's own modules, not their jars in ~/.m2: a local repository shared with other
# checkouts may hold another branch's build of them by the time the run starts.
classpath=$(sed -E "s#[^:]*/org/smtptlsproxy/([a-z-]+)/[^/:]+/[^/:]+\.jar#$PWD/\1/target/classes#g" benchmarks/bench.classpath)
java -Xmx2g "${props[@]}" -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/main/resources/logback-bench.xml \
    -cp "benchmarks/target/classes:$classpath" org.smtptlsproxy.bench.SideBySide "$@"
