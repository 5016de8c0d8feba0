package org.smtptlsproxy.server.logging;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import org.smtptlsproxy.config.LogFormat;

/**
 * How lines are written, decided once from the environment and (for the format) the config:
 *
 * <ul>
 *   <li>Under journald (systemd's {@code JOURNAL_STREAM} names our standard output), each line
 *       starts with its syslog priority {@code <N>}, as sd-daemon(3) describes, so
 *       {@code journalctl -p warning} finds the warnings; and it carries no timestamp, since the
 *       journal stamps every line itself.</li>
 *   <li>{@code SMTP_TLS_PROXY_LOG_FORMAT=json|text} chooses the format for this run, ahead of the
 *       config's {@code logging.format}: an operator can switch without editing the config.</li>
 * </ul>
 *
 * The encoder reads the style on each event; it changes at most once at start-up and on reload,
 * so a volatile is enough.
 */
public final class LogStyle {

    static final String FORMAT_VARIABLE = "SMTP_TLS_PROXY_LOG_FORMAT";

    private static final LogStyle INSTANCE = new LogStyle(System.getenv());

    private final boolean journal;
    private final LogFormat environmentFormat;
    private volatile LogFormat format;

    LogStyle(Map<String, String> environment) {
        this.journal = underJournald(environment.get("JOURNAL_STREAM"));
        this.environmentFormat = parse(environment.get(FORMAT_VARIABLE));
        this.format = environmentFormat == null ? LogFormat.TEXT : environmentFormat;
    }

    public static LogStyle current() {
        return INSTANCE;
    }

    /** The config's {@code logging.format}, unless the environment variable chose one. */
    public void useConfigured(LogFormat configured) {
        format = environmentFormat == null ? configured : environmentFormat;
    }

    boolean journal() {
        return journal;
    }

    LogFormat format() {
        return format;
    }

    private static LogFormat parse(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        try {
            return LogFormat.valueOf(value.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            // A typo must not silence the logs: say so once on stderr and keep the default.
            System.err.println("smtp-tls-proxy: " + FORMAT_VARIABLE + "=" + value + " is not text or json; using text");
            return null;
        }
    }

    /**
     * systemd sets {@code JOURNAL_STREAM=DEVICE:INODE} of the stream it connected to the journal;
     * children of the service inherit the variable with other outputs (a script piping into a
     * file), so it counts only when it names our standard output or error. Where that cannot be
     * checked (no /proc), the variable alone decides.
     */
    static boolean underJournald(String journalStream) {
        if (journalStream == null || !journalStream.matches("\\d+:\\d+")) {
            return false;
        }
        boolean checked = false;
        for (String fd : new String[] {"/proc/self/fd/1", "/proc/self/fd/2"}) {
            try {
                Map<String, Object> attributes = Files.readAttributes(Path.of(fd), "unix:dev,ino");
                checked = true;
                if (journalStream.equals(attributes.get("dev") + ":" + attributes.get("ino"))) {
                    return true;
                }
            } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
                // not Linux, or no such descriptor
            }
        }
        return !checked;
    }
}
