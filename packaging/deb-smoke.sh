#!/usr/bin/env bash
# The Debian package on a clean Debian machine, as docs/INSTALL.md tells an administrator:
# install it with dpkg (its Java runtime from apt first), run the installed launcher's `version`
# and `check` on the shipped config (which must fail, naming the missing certificate, and pass
# once one is where the config points), check the spool folder (owner, mode 0700, writable by
# the service and by nobody else), upgrade it over an edited config (the conffile must stay as
# edited, the spool's mode is restored), verify the unit with systemd-analyze, and purge it again
# (a spool with a message in it stays; an empty one goes).
#
# Runs as root, from `.ci/run` after the build (needs proxy-server/target/smtp-tls-proxy_*_all.deb).
# Changes the machine: only run it where a test install is welcome.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== deb-smoke: %s\n' "$*"; }
fail() { printf 'deb-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@" >/dev/null
}
# dpkg itself has no lock timeout; other jobs on the machine may hold the lock for a while.
dpkg_retry() {
    local try out
    for try in $(seq 1 60); do
        if out=$(dpkg "$@" 2>&1); then
            printf '%s\n' "$out"
            return 0
        fi
        if ! grep -q 'lock' <<<"$out"; then
            printf '%s\n' "$out" >&2
            return 1
        fi
        sleep 10
    done
    fail "dpkg lock still held after 10 minutes"
}

deb=$(ls proxy-server/target/smtp-tls-proxy_*_all.deb)
[ "$(wc -l <<<"$deb")" = 1 ] || fail "expected one .deb in proxy-server/target, found: $deb"
dpkg -s smtp-tls-proxy >/dev/null 2>&1 && fail "smtp-tls-proxy is already installed here; not touching it"
[ ! -e /var/spool/smtp-tls-proxy ] || fail "/var/spool/smtp-tls-proxy exists already; not touching it"

say "runtime dependency and tools from apt"
apt_install default-jre-headless openssl systemd

say "dpkg -i $deb"
dpkg_retry -i "$deb"
getent passwd smtp-tls-proxy >/dev/null || fail "no smtp-tls-proxy user"
[ "$(stat -c '%U:%G %a' /etc/smtp-tls-proxy)" = "root:smtp-tls-proxy 750" ] || fail "/etc/smtp-tls-proxy: $(stat -c '%U:%G %a' /etc/smtp-tls-proxy)"
[ "$(stat -c '%U:%G %a' /etc/smtp-tls-proxy/config.yaml)" = "root:smtp-tls-proxy 640" ] || fail "config.yaml owner/mode"
[ -f /lib/systemd/system/smtp-tls-proxy.service ] || fail "no unit"
spool=/var/spool/smtp-tls-proxy
[ "$(stat -c '%U:%G %a' "$spool")" = "smtp-tls-proxy:smtp-tls-proxy 700" ] || fail "$spool: $(stat -c '%U:%G %a' "$spool")"
grep -qx "d $spool 0700 smtp-tls-proxy smtp-tls-proxy -" /usr/lib/tmpfiles.d/smtp-tls-proxy.conf || fail "no tmpfiles.d line for $spool"
grep -qx "ReadWritePaths=-$spool" /lib/systemd/system/smtp-tls-proxy.service || fail "the unit cannot write $spool"
runuser -u smtp-tls-proxy -- sh -c "touch $spool/probe && rm $spool/probe" || fail "the service user cannot write $spool"
if runuser -u nobody -- ls "$spool" >/dev/null 2>&1; then fail "other users can list $spool"; fi

say "smtp-tls-proxy version"
version_out=$(smtp-tls-proxy version)
printf '%s\n' "$version_out"
expected=$(dpkg-deb -f "$deb" Version | sed 's/~/-/')
[ "$(head -1 <<<"$version_out")" = "smtp-tls-proxy $expected" ] || fail "version says '$(head -1 <<<"$version_out")', package is $expected"

say "check on the shipped config, before a certificate is in place: must fail"
set +e
check_out=$(runuser -u smtp-tls-proxy -- smtp-tls-proxy check --config /etc/smtp-tls-proxy/config.yaml 2>&1)
check_rc=$?
set -e
printf '%s\n' "$check_out"
[ "$check_rc" = 1 ] || fail "check exited $check_rc without a certificate"
grep -q '^listeners\[0\].tls.certificate (line [0-9]*): file not found: /etc/smtp-tls-proxy/server.pem$' <<<"$check_out" \
    || fail "check did not name the missing certificate"
grep -q '^listeners\[0\].tls.key (line [0-9]*): file not found: /etc/smtp-tls-proxy/server.key$' <<<"$check_out" \
    || fail "check did not name the missing key"

say "a certificate where the config points (INSTALL.md, step 2), then check must pass"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=relay.contoso.internal" \
    -addext "subjectAltName=DNS:relay.contoso.internal" \
    -keyout /etc/smtp-tls-proxy/server.key -out /etc/smtp-tls-proxy/server.pem 2>/dev/null
chgrp smtp-tls-proxy /etc/smtp-tls-proxy/server.key /etc/smtp-tls-proxy/server.pem
chmod 0640 /etc/smtp-tls-proxy/server.key /etc/smtp-tls-proxy/server.pem
runuser -u smtp-tls-proxy -- smtp-tls-proxy check --config /etc/smtp-tls-proxy/config.yaml \
    || fail "check refused the shipped config with a certificate in place"

say "systemd-analyze verify and security on the installed unit"
systemd-analyze verify /lib/systemd/system/smtp-tls-proxy.service
systemd-analyze security --offline=yes --threshold=20 /lib/systemd/system/smtp-tls-proxy.service | tail -1

say "upgrade over an edited config: the conffile stays as the administrator left it"
sed -i 's/^hostname: .*/hostname: relay.fabrikam.internal   # edited by the administrator/' /etc/smtp-tls-proxy/config.yaml
edited=$(sha256sum /etc/smtp-tls-proxy/config.yaml)
chmod 0755 "$spool"   # loosened by hand: the upgrade puts it back
dpkg_retry -i "$deb"
[ "$(sha256sum /etc/smtp-tls-proxy/config.yaml)" = "$edited" ] || fail "the upgrade overwrote the edited config"
[ ! -e /etc/smtp-tls-proxy/config.yaml.dpkg-new ] || fail "dpkg left config.yaml.dpkg-new"
[ "$(stat -c '%U:%G %a' "$spool")" = "smtp-tls-proxy:smtp-tls-proxy 700" ] || fail "$spool after the upgrade: $(stat -c '%U:%G %a' "$spool")"

say "dpkg --purge with a message in the spool: the spool stays"
runuser -u smtp-tls-proxy -- mkdir "$spool/queue" "$spool/tmp"
runuser -u smtp-tls-proxy -- sh -c "echo 'Subject: not delivered yet' > $spool/queue/0000000000001.msg"
dpkg_retry --purge smtp-tls-proxy
[ -f "$spool/queue/0000000000001.msg" ] || fail "the purge removed a spooled message"
rm -r "$spool"

say "dpkg -i again, then dpkg --purge with an empty spool"
dpkg_retry -i "$deb"
[ "$(stat -c '%U:%G %a' "$spool")" = "smtp-tls-proxy:smtp-tls-proxy 700" ] || fail "$spool: $(stat -c '%U:%G %a' "$spool")"
runuser -u smtp-tls-proxy -- mkdir "$spool/queue" "$spool/tmp" "$spool/control" "$spool/corrupt" "$spool/deleted"
runuser -u smtp-tls-proxy -- touch "$spool/spool.lock"
dpkg_retry --purge smtp-tls-proxy
[ ! -e "$spool" ] || fail "$spool is still there after purging an empty spool: $(ls -A "$spool")"
for gone in /usr/bin/smtp-tls-proxy /usr/share/smtp-tls-proxy /lib/systemd/system/smtp-tls-proxy.service \
            /etc/smtp-tls-proxy/config.yaml /usr/lib/tmpfiles.d/smtp-tls-proxy.conf; do
    [ ! -e "$gone" ] || fail "$gone is still there after the purge"
done
# The administrator's own files (certificate, key) are theirs to remove.
rm -f /etc/smtp-tls-proxy/server.pem /etc/smtp-tls-proxy/server.key
rmdir /etc/smtp-tls-proxy

say "OK"
