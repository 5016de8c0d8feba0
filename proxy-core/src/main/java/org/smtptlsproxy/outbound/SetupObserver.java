package org.smtptlsproxy.outbound;

import java.net.InetSocketAddress;
import org.smtptlsproxy.smtp.EhloCapabilities;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * Watches an upstream session being set up, step by step, on the event loop. The relay needs
 * none of it ({@link #NONE}); {@code probe} prints each step, so that what an administrator sees
 * is what the relay itself went through.
 */
public interface SetupObserver {

    SetupObserver NONE = new SetupObserver() {
    };

    /** TCP is up to {@code address}; the banner is next. */
    default void connected(InetSocketAddress address) {
    }

    default void banner(SmtpReply banner) {
    }

    /** The reply to EHLO, before TLS ({@code session.isTls()} false) and again inside it. */
    default void ehlo(UpstreamSession session, EhloCapabilities capabilities) {
    }

    /** The TLS handshake completed (chain and name verified); protocol and cipher are on the session. */
    default void tlsEstablished(UpstreamSession session) {
    }

    /** The upstream accepted AUTH with {@code mechanism} (inside TLS). */
    default void authenticated(String mechanism, SmtpReply reply) {
    }

    /** One target or address failed; the connector goes on with the next one, if any. */
    default void attemptFailed(UpstreamFailure failure) {
    }
}
