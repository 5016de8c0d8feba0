package org.smtptlsproxy.tls;

import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.internal.tcnative.SSL;
import javax.net.ssl.SSLEngine;

/**
 * Whether a finished handshake resumed an earlier session (the abbreviated handshake: no
 * certificate, no signature). {@code SSLSession} cannot tell: BoringSSL reports its own cache
 * statistics at zero because Netty keeps the client cache itself, and creation times there have
 * one-second resolution. BoringSSL knows per connection, and tcnative asks it.
 */
public final class SessionResumption {

    private SessionResumption() {
    }

    /** True if {@code engine} resumed; false also when the provider cannot say (the JDK's). */
    public static boolean resumed(SSLEngine engine) {
        if (engine instanceof ReferenceCountedOpenSslEngine openSsl) {
            long ssl = openSsl.sslPointer(); // 0 once the engine is freed
            return ssl != 0 && SSL.isSessionReused(ssl);
        }
        return false;
    }
}
