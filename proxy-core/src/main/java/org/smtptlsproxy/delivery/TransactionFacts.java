package org.smtptlsproxy.delivery;

import java.net.InetSocketAddress;

/**
 * What the inbound session knows about the sender when a transaction begins.
 *
 * @param tlsProtocol   null when the client does not use TLS
 * @param tlsCipher     null when the client does not use TLS
 * @param authenticated whether the client authenticated with AUTH in this session
 */
public record TransactionFacts(String sessionId, InetSocketAddress client, String heloName, String tlsProtocol,
                               String tlsCipher, boolean authenticated) {
}
