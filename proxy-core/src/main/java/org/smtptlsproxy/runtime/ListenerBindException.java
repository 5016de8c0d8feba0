package org.smtptlsproxy.runtime;

import java.util.Locale;
import org.smtptlsproxy.config.HostPort;

/**
 * A listener's address could not be bound (taken, not local, a privileged port). The message
 * names the listener by its place in the config and its name, as {@code check} names keys, so an
 * administrator knows which entry to change without a stack trace.
 */
public final class ListenerBindException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public ListenerBindException(int index, String name, HostPort address, Throwable cause) {
        super("listeners[" + index + "] (" + name + ") cannot listen on " + address + ": " + reason(cause), cause);
    }

    /**
     * The operating system's words, without Netty's native prefix
     * ({@code bind(..) failed with error(-98): Address already in use} becomes
     * {@code address already in use}); the JDK transport already says only the words.
     */
    public static String reason(Throwable failure) {
        Throwable root = failure;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        int nativePrefix = message.indexOf("): ");
        if (message.startsWith("bind(") && nativePrefix > 0) {
            message = message.substring(nativePrefix + 3);
        }
        return message.isEmpty() ? message : message.substring(0, 1).toLowerCase(Locale.ROOT) + message.substring(1);
    }
}
