#!/usr/bin/env bash
# The README's "Installing from the archive" on a clean machine, run exactly as written there
# (the two code blocks are taken out of README.md): the user and folders, a config, `check`, the
# proxy started as its user the way the unit starts it, a message relayed to a local TLS
# upstream; then the same steps with a second build, and another message relayed by the new
# version.
#
# Usage: archive-smoke.sh [SECOND-ARCHIVE]. CI passes a release build (-Drevision=X.Y.Z) as the
# second archive; without one, this build is re-packed under another version.
#
# Without systemd as PID 1 (CI containers), `systemctl` is played by a function below: `restart`
# stops the running proxy with SIGTERM and starts the installed unit's ExecStartPre and ExecStart
# as its User= (no new privileges, UMask=0077, its Environment=).
#
# Runs as root, from `.ci/run` after the build (needs proxy-server/target/smtp-tls-proxy-*.tar.gz).
# Changes the machine (/opt/smtp-tls-proxy, /etc/smtp-tls-proxy, /var/spool/smtp-tls-proxy, a
# system user) and removes what it added except the user.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf '\n== archive-smoke: %s\n' "$*"; }
fail() { printf 'archive-smoke: FAILED: %s\n' "$*" >&2; exit 1; }

for path in /opt/smtp-tls-proxy /etc/smtp-tls-proxy /etc/systemd/system/smtp-tls-proxy.service /var/spool/smtp-tls-proxy; do
    [ ! -e "$path" ] || fail "$path exists already; not touching an existing installation"
done

say "tools from apt"
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q openssl swaks systemd >/dev/null

archive=$(ls "$repo"/proxy-server/target/smtp-tls-proxy-*.tar.gz)
[ "$(wc -l <<<"$archive")" = 1 ] || fail "expected one archive in proxy-server/target, found: $archive"
work=$(mktemp -d)
proxy_pid=
upstream_pid=

cleanup() {
    set +e
    if [ -n "$proxy_pid" ]; then kill -TERM "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null; fi
    if [ -n "$upstream_pid" ]; then kill "$upstream_pid" 2>/dev/null; wait "$upstream_pid" 2>/dev/null; fi
    rm -rf /opt/smtp-tls-proxy /etc/smtp-tls-proxy /etc/systemd/system/smtp-tls-proxy.service /var/spool/smtp-tls-proxy \
        /usr/local/bin/smtp-tls-proxy /etc/sysusers.d/smtp-tls-proxy.conf /etc/tmpfiles.d/smtp-tls-proxy.conf "$work"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        port_free "$port" && { echo "$port"; return; }
    done
}
await_port() {
    local i
    for i in $(seq 1 300); do
        port_free "$1" || return 0
        sleep 0.2
    done
    return 1
}

# The README's code block after the marker `<!-- archive-install: NAME`, with the archive line
# pointing at ARCHIVE.
readme_steps() {
    sed -n "/^<!-- archive-install: $1 /,/^\`\`\`\$/p" "$repo/README.md" | sed '1,2d;$d' \
        | sed "s#^archive=[^ ]*#archive=$2#"
}

for block in unpack switch; do
    [ -n "$(readme_steps "$block" x)" ] || fail "README.md has no <!-- archive-install: $block --> block"
done

unit_value() { sed -n "s/^$1=//p" /etc/systemd/system/smtp-tls-proxy.service; }

# systemctl as far as these steps need it, for a machine without systemd running.
systemctl() {
    case "$1" in
        daemon-reload|enable) echo "(systemctl $*: played by archive-smoke.sh)" ;;
        restart) restart_like_the_unit ;;
        *) fail "systemctl $* is not played here" ;;
    esac
}

restart_like_the_unit() {
    if [ -n "$proxy_pid" ]; then
        kill -TERM "$proxy_pid"
        wait "$proxy_pid" || fail "the proxy did not exit 0 on SIGTERM"
        proxy_pid=
    fi
    local user env pre start
    user=$(unit_value User)
    env=$(unit_value Environment)
    pre=$(unit_value ExecStartPre)
    start=$(unit_value ExecStart)
    local group umask
    group=$(unit_value Group)
    umask=$(unit_value UMask)
    # shellcheck disable=SC2086
    (umask "$umask" && exec env $env setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- $pre) \
        || fail "ExecStartPre ($pre) refused the config"
    # Every step execs the next, so this PID is the JVM's, as the unit's main process would be.
    # shellcheck disable=SC2086
    (umask "$umask" && exec env $env setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- $start) \
        >>"$work/proxy.log" 2>&1 &
    proxy_pid=$!
    await_port "$smtp_port" || fail "the proxy did not listen on $smtp_port: $(tail -20 "$work/proxy.log")"
    echo "(systemctl restart: $start running as $user, pid $proxy_pid)"
}

relay_one() {
    local n=$1 out
    out=$(swaks --server 127.0.0.1 --port "$smtp_port" --tls --from scanner@legacy.example --to user@contoso.example \
        --header "Subject: archive smoke $n" --body "message $n" --timeout 30 2>&1) || { printf '%s\n' "$out"; fail "swaks"; }
    grep -Eq "^<~? +250 2\.6\.0 <smoke-$n@smoke-upstream> Queued mail for delivery" <<<"$out" \
        || { printf '%s\n' "$out"; fail "message $n: no 250 with the upstream's queue id"; }
    grep -q '^X-Smoke-Upstream-TLS: TLSv1\.[23]$' "$work/mail/message-$n.eml" || fail "message $n did not arrive over TLS 1.2+"
    grep -q "^Subject: archive smoke $n" "$work/mail/message-$n.eml" || fail "message $n arrived altered"
    echo "message $n relayed: $(grep -o '250 2.6.0 <[^>]*>' <<<"$out" | tail -1)"
}

say "a local TLS 1.2+ upstream (packaging/smoke/SmokeUpstream.java) and certificates"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=smoke CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$work/upstream.key" -out "$work/upstream.csr" 2>/dev/null
openssl x509 -req -in "$work/upstream.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile <(printf 'subjectAltName=DNS:localhost\n') -out "$work/upstream.pem" 2>/dev/null
openssl pkcs12 -export -in "$work/upstream.pem" -inkey "$work/upstream.key" -passout pass:smoke -out "$work/upstream.p12"
upstream_port=$(free_port)
java "$repo/packaging/smoke/SmokeUpstream.java" "$upstream_port" "$work/upstream.p12" smoke "$work/mail" >"$work/upstream.log" 2>&1 &
upstream_pid=$!
await_port "$upstream_port" || fail "the upstream did not start: $(cat "$work/upstream.log")"
smtp_port=$(free_port)
metrics_port=$(free_port)

say "install: README step 1 with $(basename "$archive")"
eval "$(readme_steps unpack "$archive")"
getent passwd smtp-tls-proxy >/dev/null || fail "no smtp-tls-proxy user"
[ "$(stat -c '%U:%G %a' /etc/smtp-tls-proxy)" = "root:smtp-tls-proxy 750" ] || fail "/etc/smtp-tls-proxy: $(stat -c '%U:%G %a' /etc/smtp-tls-proxy)"
[ -f /etc/smtp-tls-proxy/config.yaml ] || fail "no first config"
[ "$(stat -c '%U:%G %a' /var/spool/smtp-tls-proxy)" = "smtp-tls-proxy:smtp-tls-proxy 700" ] \
    || fail "/var/spool/smtp-tls-proxy: $(stat -c '%U:%G %a' /var/spool/smtp-tls-proxy)"

say "README step 2: the administrator's config and certificate"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=relay.smoke.internal" \
    -keyout /etc/smtp-tls-proxy/server.key -out /etc/smtp-tls-proxy/server.pem 2>/dev/null
cp "$work/ca.pem" /etc/smtp-tls-proxy/upstream-ca.pem
cat >/etc/smtp-tls-proxy/config.yaml <<EOF
hostname: relay.smoke.internal
listeners:
  - name: lan
    address: 127.0.0.1:$smtp_port
    tls:
      mode: starttls
      certificate: /etc/smtp-tls-proxy/server.pem
      key: /etc/smtp-tls-proxy/server.key
upstream:
  host: 127.0.0.1
  port: $upstream_port
  tls:
    server_name: localhost
    trust: /etc/smtp-tls-proxy/upstream-ca.pem
metrics:
  address: 127.0.0.1:$metrics_port
EOF
chgrp smtp-tls-proxy /etc/smtp-tls-proxy/*
chmod 0640 /etc/smtp-tls-proxy/*
config_sum=$(sha256sum /etc/smtp-tls-proxy/config.yaml)

say "README step 3: check, switch, start"
eval "$(readme_steps switch "$archive")"
first=$version
[ "$(readlink /opt/smtp-tls-proxy/current)" = "$first" ] || fail "current -> $(readlink /opt/smtp-tls-proxy/current)"
smtp-tls-proxy version | head -1
[ "$(stat -c %U /proc/"$proxy_pid")" = smtp-tls-proxy ] || fail "the proxy runs as $(stat -c %U /proc/"$proxy_pid")"
tr '\0' ' ' </proc/"$proxy_pid"/cmdline | grep -q -- "-XX:+ExitOnOutOfMemoryError .*-jar /opt/smtp-tls-proxy/$first/lib/smtp-tls-proxy.jar run" \
    || fail "the proxy is not the one the unit starts: $(tr '\0' ' ' </proc/"$proxy_pid"/cmdline)"
systemd-analyze verify /etc/systemd/system/smtp-tls-proxy.service
relay_one 1

if [ -n "${1:-}" ]; then
    upgrade=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    second=$(basename "$upgrade" .tar.gz); second=${second#smtp-tls-proxy-}
    say "upgrade to a second build, $(basename "$upgrade"): README steps 1 and 3 again"
else
    second="$first-upgrade"
    say "upgrade: the same build re-packed as $second, README steps 1 and 3 again"
    mkdir "$work/repack"
    tar xzf "$archive" -C "$work/repack"
    mv "$work/repack/smtp-tls-proxy-$first" "$work/repack/smtp-tls-proxy-$second"
    upgrade="$work/smtp-tls-proxy-$second.tar.gz"
    tar czf "$upgrade" -C "$work/repack" "smtp-tls-proxy-$second"
fi
[ "$second" != "$first" ] || fail "the second archive has the first one's version, $first"
old_pid=$proxy_pid
eval "$(readme_steps unpack "$upgrade")"
eval "$(readme_steps switch "$upgrade")"
[ "$(readlink /opt/smtp-tls-proxy/current)" = "$second" ] || fail "current -> $(readlink /opt/smtp-tls-proxy/current) after the upgrade"
[ "$proxy_pid" != "$old_pid" ] || fail "the proxy was not restarted"
tr '\0' ' ' </proc/"$proxy_pid"/cmdline | grep -q -- "-jar /opt/smtp-tls-proxy/$second/lib/smtp-tls-proxy.jar run" \
    || fail "the new version is not the one running: $(tr '\0' ' ' </proc/"$proxy_pid"/cmdline)"
[ "$(sha256sum /etc/smtp-tls-proxy/config.yaml)" = "$config_sum" ] || fail "the upgrade changed the config"
if [ -n "${1:-}" ]; then
    [ "$(smtp-tls-proxy version | head -1)" = "smtp-tls-proxy $second" ] || fail "version after the upgrade: $(smtp-tls-proxy version | head -1)"
fi
[ -d "/opt/smtp-tls-proxy/$first" ] || fail "the previous version's folder is gone (no rollback)"
relay_one 2

say "stop: SIGTERM drains and exits 0"
kill -TERM "$proxy_pid"
wait "$proxy_pid" || fail "exit status $? after SIGTERM"
proxy_pid=
grep -q 'drained' "$work/proxy.log" || fail "no drain in the log"

say "OK"
