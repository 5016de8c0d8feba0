#!/usr/bin/env bash
# Starts (or stops) a private Postfix instance configured as the equivalent relay for the
# side-by-side benchmark: plaintext SMTP in on 127.0.0.1:$POSTFIX_PORT, every message relayed to
# the sink at 127.0.0.1:$SINK_PORT with mandatory TLS 1.2+, outbound TLS connections reused.
# Usage: scripts/postfix-relay.sh start SINK_PORT [POSTFIX_PORT] | stop
# Needs root and Debian's postfix package (apt-get install -y postfix, "No configuration").
# TLS senders (the benchmark's TLS-sender mode): POSTFIX_TLS_CERT and POSTFIX_TLS_KEY (PEM, RSA or
# ECDSA; POSTFIX_TLS_ECCERT and POSTFIX_TLS_ECKEY add an ECDSA pair beside an RSA one) offer
# STARTTLS on the same listener, TLS 1.0 to 1.3, no client certificate asked; POSTFIX_SMTPS_PORT adds
# an implicit-TLS listener with the same certificate. Session IDs and tickets are on, as in a
# stock Postfix, so that a resuming sender can resume.
set -euo pipefail
dir=${POSTFIX_BENCH_DIR:-/tmp/postfix-bench}
case ${1:-} in
stop)
    postfix -c "$dir" stop 2>/dev/null || true
    exit 0
    ;;
start) ;;
*) echo "usage: $0 start SINK_PORT [POSTFIX_PORT] | stop" >&2; exit 2 ;;
esac
sink_port=$2
port=${3:-2526}
postfix -c "$dir" stop 2>/dev/null || true
rm -rf "$dir"
mkdir -p "$dir/queue" "$dir/data"
# Postfix runs an instance from another directory only if the default instance lists it.
[ -f /etc/postfix/main.cf ] || touch /etc/postfix/main.cf
postconf -e "alternate_config_directories = $dir"
cp /etc/postfix/master.cf "$dir/master.cf"
# Listen on a high loopback port instead of 25.
sed -i "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$port      inet  n       -       n       -       -       smtpd/" "$dir/master.cf"
grep -q "^127.0.0.1:$port" "$dir/master.cf" || { echo "could not set the listener in master.cf" >&2; exit 1; }
if [ -n "${POSTFIX_SMTPS_PORT:-}" ]; then
    postconf -c "$dir" -M "127.0.0.1:$POSTFIX_SMTPS_PORT/inet=127.0.0.1:$POSTFIX_SMTPS_PORT inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt"
fi
# smtp_tls_connection_reuse needs the tlsproxy service; no chroot, the private queue has no /etc.
postconf -c "$dir" -M "tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy"
postconf -c "$dir" -F "*/*/chroot=n"
cat > "$dir/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.invalid
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
relayhost = [127.0.0.1]:$sink_port
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = encrypt
smtp_tls_mandatory_protocols = >=TLSv1.2
smtp_tls_connection_reuse = yes
smtp_destination_concurrency_limit = 50
default_process_limit = 150
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
alias_maps =
alias_database =
CONF
if [ -n "${POSTFIX_TLS_CERT:-}" ]; then
    # Postfix 3.7 on Debian 12 (OpenSSL 3.0) accepts TLS 1.0 with its own "medium" grade as it is:
    # `openssl s_client -tls1 -cipher DEFAULT:@SECLEVEL=0 -starttls smtp` gets ECDHE-RSA-AES256-SHA;
    # no @SECLEVEL=0 is needed on this side (Debian's openssl.cnf sets no MinProtocol). It is the
    # client that needs it under OpenSSL 3: at level 1 it refuses the server's MD5+SHA-1 signature
    # ("legacy sigalg disallowed"). The benchmark's senders use BoringSSL, which has no levels.
    cat >> "$dir/main.cf" <<CONF
smtpd_tls_security_level = may
smtpd_tls_cert_file = $POSTFIX_TLS_CERT
smtpd_tls_key_file = $POSTFIX_TLS_KEY
smtpd_tls_protocols = >=TLSv1
smtpd_tls_mandatory_protocols = >=TLSv1
smtpd_tls_session_cache_database = btree:$dir/data/smtpd_scache
smtpd_tls_session_cache_timeout = 3600s
smtpd_tls_loglevel = 0
CONF
    if [ -n "${POSTFIX_TLS_ECCERT:-}" ]; then
        printf 'smtpd_tls_eccert_file = %s\nsmtpd_tls_eckey_file = %s\n' "$POSTFIX_TLS_ECCERT" "$POSTFIX_TLS_ECKEY" >> "$dir/main.cf"
    fi
fi
postfix -c "$dir" set-permissions >/dev/null 2>&1 || true
postfix -c "$dir" check || { echo "postfix check failed (see syslog)" >&2; exit 1; }
postfix -c "$dir" start || { echo "postfix start failed (see syslog)" >&2; exit 1; }
for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && {
        echo "postfix relay on 127.0.0.1:$port${POSTFIX_TLS_CERT:+ (STARTTLS)}${POSTFIX_SMTPS_PORT:+, implicit TLS on 127.0.0.1:$POSTFIX_SMTPS_PORT} -> 127.0.0.1:$sink_port"
        exit 0
    }
    sleep 0.2
done
echo "postfix did not start; see $dir/maillog" >&2
exit 1
