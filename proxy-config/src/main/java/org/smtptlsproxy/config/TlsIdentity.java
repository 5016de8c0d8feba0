package org.smtptlsproxy.config;

import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * A certificate chain with its private key, already read and checked to match (leaf first).
 * The key never appears in {@link #toString()}.
 */
public record TlsIdentity(Path certificateFile, Path keyFile, List<X509Certificate> chain, PrivateKey key) {

    public TlsIdentity {
        chain = List.copyOf(chain);
    }

    @Override
    public String toString() {
        return "TlsIdentity[certificate=" + certificateFile + ", key=" + keyFile + "]";
    }
}
