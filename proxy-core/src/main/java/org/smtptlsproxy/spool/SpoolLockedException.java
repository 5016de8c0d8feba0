package org.smtptlsproxy.spool;

import java.io.IOException;

/** Another process (normally the running proxy) owns the spool directory. */
public final class SpoolLockedException extends IOException {

    public SpoolLockedException(String message) {
        super(message);
    }
}
