#!/usr/bin/env bash
# Server CPU per inbound handshake on each TLS provider path, against openssl speed, in one run
# (issue 18): BoringSSL (netty-tcnative-boringssl-static, what the proxy ships), the JDK, and the
# system's OpenSSL 3 through netty-tcnative's dynamically linked build; full TLS 1.0/1.2/1.3 with
# RSA-2048 and ECDSA P-256, resumed TLS 1.2 (session ID, ticket) and TLS 1.3 (ticket).
# Usage: scripts/bench-handshake.sh [HandshakeProviders args: --warmup N --iterations N --seconds N]
#   BENCH_OPENSSL_DYNAMIC=0   leave the system-OpenSSL path out
# About 7 minutes on 2 cores. The table goes to stdout and target/perf/handshake-providers.md.
#
# The system-OpenSSL path: Maven Central has no dynamically linked netty-tcnative for 2.0.85 (the
# version in use); the newest, 2.0.81, is built against OpenSSL 3.2 and Debian 12 has 3.0, so
# loading it fails with "version `OPENSSL_3.2.0' not found". It asks 3.2 for one function only,
# SSL_get0_group_name (the name of the negotiated group). For this measurement, and nowhere
# else, a copy of its library gets that requirement marked weak (weaken-version.py) and the
# function from a tiny shim built here on 3.0's own calls (ssl_get0_group_name.c); it also needs
# libapr1. Needs: gcc, patchelf, python3, libapr1 (apt-get install patchelf libapr1). OpenSSL 3's
# default security level 1 refuses TLS 1.0's SHA-1 based handshake signatures ("handshake failed:
# error:00000000"), so that path runs with OPENSSL_CONF at @SECLEVEL=0, as a proxy on OpenSSL 3
# serving TLS 1.0 senders would have to (BoringSSL and the JDK do not read it).
set -euo pipefail
cd "$(dirname "$0")/.."
TCNATIVE_DYNAMIC=2.0.81.Final
./mvnw -q -B -DskipTests install
./mvnw -q -B -pl benchmarks dependency:build-classpath -Dmdep.outputFile=bench.classpath >/dev/null

args=()
if [ "${BENCH_OPENSSL_DYNAMIC:-1}" != 0 ]; then
    lib=benchmarks/target/openssl-dynamic
    missing=""
    for tool in gcc patchelf python3; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
    [ -e /usr/lib/x86_64-linux-gnu/libapr-1.so.0 ] || missing="$missing libapr1"
    if [ "$(uname -m)" != x86_64 ]; then
        echo "# system-OpenSSL path left out: only linux-x86_64 is prepared here" >&2
    elif [ -n "$missing" ]; then
        echo "# system-OpenSSL path left out: missing$missing (apt-get install gcc patchelf python3 libapr1)" >&2
    else
        mkdir -p "$lib"
        jar="$HOME/.m2/repository/io/netty/netty-tcnative/$TCNATIVE_DYNAMIC/netty-tcnative-$TCNATIVE_DYNAMIC-linux-x86_64.jar"
        [ -f "$jar" ] || ./mvnw -q -B dependency:get -Dtransitive=false \
            -Dartifact="io.netty:netty-tcnative:$TCNATIVE_DYNAMIC:jar:linux-x86_64" >/dev/null
        so=libnetty_tcnative_linux_x86_64.so
        (cd "$lib" && rm -f "$so" && unzip -q -o -j "$jar" "META-INF/native/$so")
        gcc -O2 -shared -fPIC -o "$lib/libtcnative_ossl30_shim.so" scripts/openssl-dynamic/ssl_get0_group_name.c -l:libssl.so.3
        patchelf --clear-symbol-version SSL_get0_group_name "$lib/$so"
        patchelf --add-needed libtcnative_ossl30_shim.so --set-rpath '$ORIGIN' "$lib/$so"
        python3 scripts/openssl-dynamic/weaken-version.py "$lib/$so" OPENSSL_3.2.0 >/dev/null
        printf '%s\n' 'openssl_conf = openssl_init' '[openssl_init]' 'ssl_conf = ssl_sect' '[ssl_sect]' \
            'system_default = system_default_sect' '[system_default_sect]' 'CipherString = DEFAULT:@SECLEVEL=0' \
            > "$lib/openssl.cnf"
        export OPENSSL_CONF="$PWD/$lib/openssl.cnf"
        args+=(--openssl-lib "$PWD/$lib")
    fi
fi
mkdir -p target/perf
# The JDK disables TLS 1.0/1.1 unless this override is read at startup; JMH forks inherit it.
exec java -Djava.security.properties=integration-tests/src/test/resources/legacy-tls.security \
    -Dlogback.configurationFile=benchmarks/src/test/resources/logback-test.xml \
    -cp "benchmarks/target/classes:$(cat benchmarks/bench.classpath)" \
    org.smtptlsproxy.bench.HandshakeProviders "${args[@]}" --out target/perf/handshake-providers.md "$@"
