package org.smtptlsproxy.testkit;

/** Key algorithm of a test certificate. */
public enum KeyType {
    RSA,
    EC
}
