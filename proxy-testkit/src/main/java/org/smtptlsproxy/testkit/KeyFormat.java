package org.smtptlsproxy.testkit;

/** PEM encodings of a private key, as administrators find them in the wild. */
public enum KeyFormat {
    /** {@code BEGIN PRIVATE KEY} */
    PKCS8,
    /** {@code BEGIN RSA PRIVATE KEY} (RSA keys only) */
    PKCS1,
    /** {@code BEGIN EC PRIVATE KEY} (EC keys only) */
    SEC1
}
