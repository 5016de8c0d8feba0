package org.smtptlsproxy.interop;

/**
 * Issue 16, item 7: a Postfix sender (TLS 1.0, smtputf8_enable = yes) relays through the proxy
 * an SMTPUTF8 envelope and a DSN request; the upstream Postfix must receive the exact octets and
 * the DSN parameters. {@link Smtputf8DsnDirectTest} runs the same checks without the proxy.
 */
class Smtputf8DsnInteropTest extends Smtputf8DsnCases {

    private static SenderPostfix sender;

    @Override
    synchronized SenderPostfix sender(InteropEnvironment env) throws Exception {
        if (sender == null) {
            sender = env.closeAtEnd(SenderPostfix.start("sender-utf8", env.directory("sender-utf8"),
                    env.proxy().port("starttls"), SenderPostfix.Tls.TLS1_ONLY));
        }
        return sender;
    }

    @Override
    boolean viaProxy() {
        return true;
    }
}
