package org.smtptlsproxy.tls;

import io.netty.handler.ssl.OpenSslServerSessionContext;
import io.netty.handler.ssl.OpenSslSessionTicketKey;
import io.netty.handler.ssl.SslContext;
import java.security.SecureRandom;
import java.time.Duration;

/**
 * The keys that encrypt inbound session tickets (TLS 1.0-1.2 tickets, TLS 1.3 resumption
 * tickets), one set for the process. They are random, made at start-up, live only in memory and
 * are never logged. They belong to the process rather than to an {@link SslContext}: a SIGHUP
 * builds new contexts, and a sender holding a ticket from before it must still resume.
 *
 * <p>{@link #rotate()} (every {@link #ROTATION}) makes a new encryption key and keeps the previous
 * one for decryption only, so a ticket stays usable for one to two rotation periods, within the
 * listener's {@code session_timeout}. Only BoringSSL contexts take these keys; the JDK manages
 * its own per context.
 */
public final class TicketKeys {

    /** As Postfix's smtpd_tls_session_cache_timeout rotation and common practice: twice a day. */
    public static final Duration ROTATION = Duration.ofHours(12);

    private final SecureRandom random = new SecureRandom();
    private OpenSslSessionTicketKey current;
    private OpenSslSessionTicketKey previous;

    public TicketKeys() {
        current = newKey();
    }

    /** A new key encrypts from now on; the one it replaces still decrypts; the one before is gone. */
    public synchronized void rotate() {
        previous = current;
        current = newKey();
    }

    /**
     * Hands the keys to {@code context} if it is a BoringSSL server context; otherwise nothing.
     * Also after each {@link #rotate()}, for every context that still accepts connections.
     */
    public synchronized void applyTo(SslContext context) {
        if (context != null && context.sessionContext() instanceof OpenSslServerSessionContext sessions) {
            if (previous == null) {
                sessions.setTicketKeys(current);
            } else {
                sessions.setTicketKeys(current, previous); // the first encrypts, all decrypt
            }
        }
    }

    private OpenSslSessionTicketKey newKey() {
        return new OpenSslSessionTicketKey(bytes(OpenSslSessionTicketKey.NAME_SIZE),
                bytes(OpenSslSessionTicketKey.HMAC_KEY_SIZE), bytes(OpenSslSessionTicketKey.AES_KEY_SIZE));
    }

    private byte[] bytes(int length) {
        byte[] bytes = new byte[length];
        random.nextBytes(bytes);
        return bytes;
    }

    @Override
    public String toString() {
        return "TicketKeys[" + (previous == null ? 1 : 2) + " keys]";
    }
}
