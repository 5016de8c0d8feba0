package org.smtptlsproxy.runtime;

/** The spool directory cannot be used at start-up; the message says why, for an administrator. */
public final class SpoolUnavailableException extends RuntimeException {

    public SpoolUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
