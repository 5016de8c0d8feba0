package org.smtptlsproxy.interop;

/**
 * Control for {@link Smtputf8DsnInteropTest}: the same sender and checks with no proxy in
 * between (the sender Postfix relays straight to the upstream over TLS 1.2+). It passes, so when
 * the proxied run fails, the proxy changed the envelope, not the test's expectations.
 */
class Smtputf8DsnDirectTest extends Smtputf8DsnCases {

    private static SenderPostfix sender;

    @Override
    synchronized SenderPostfix sender(InteropEnvironment env) throws Exception {
        if (sender == null) {
            sender = env.closeAtEnd(SenderPostfix.start("sender-direct", env.directory("sender-direct"),
                    env.upstream().port(), SenderPostfix.Tls.MODERN));
        }
        return sender;
    }

    @Override
    boolean viaProxy() {
        return false;
    }
}
