package org.smtptlsproxy.server.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.encoder.EncoderBase;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import org.slf4j.event.KeyValuePair;
import org.smtptlsproxy.config.LogFormat;

/**
 * Writes each event in the {@link LogStyle} of this run:
 *
 * <ul>
 *   <li>text: {@code 2026-01-02T03:04:05.678Z INFO  Logger message} (unchanged since the first
 *       release; scripts parse it);</li>
 *   <li>text under journald: {@code <6>INFO  Logger message}, every line of a stack trace with
 *       the same priority;</li>
 *   <li>json: one object per line with {@code time} (left out under journald), {@code level},
 *       {@code logger} and either {@code message} or, for an event carrying key-value pairs (the
 *       transaction line), those pairs as fields of their own, numbers as numbers.</li>
 * </ul>
 */
public final class ProxyLogEncoder extends EncoderBase<ILoggingEvent> {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
            .withZone(ZoneId.systemDefault());
    private static final byte[] NOTHING = new byte[0];

    private final LogStyle style;
    private PatternLayout text;
    private PatternLayout journalText;

    public ProxyLogEncoder() {
        this(LogStyle.current());
    }

    ProxyLogEncoder(LogStyle style) {
        this.style = style;
    }

    @Override
    public void start() {
        text = layout("%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level %logger{0} %msg%n");
        journalText = layout("%-5level %logger{0} %msg%n");
        super.start();
    }

    private PatternLayout layout(String pattern) {
        PatternLayout layout = new PatternLayout();
        layout.setContext(getContext());
        layout.setPattern(pattern);
        layout.start();
        return layout;
    }

    @Override
    public byte[] headerBytes() {
        return NOTHING;
    }

    @Override
    public byte[] footerBytes() {
        return NOTHING;
    }

    @Override
    public byte[] encode(ILoggingEvent event) {
        String line;
        if (style.format() == LogFormat.JSON) {
            line = json(event, !style.journal());
        } else {
            line = (style.journal() ? journalText : text).doLayout(event);
        }
        if (style.journal()) {
            line = withPriority(line, priority(event.getLevel()));
        }
        return line.getBytes(StandardCharsets.UTF_8);
    }

    /** syslog priorities as sd-daemon(3) prefixes them: ERROR err(3), WARN warning(4), INFO info(6), DEBUG debug(7). */
    static int priority(Level level) {
        if (level.isGreaterOrEqual(Level.ERROR)) {
            return 3;
        }
        if (level.isGreaterOrEqual(Level.WARN)) {
            return 4;
        }
        return level.isGreaterOrEqual(Level.INFO) ? 6 : 7;
    }

    /** journald reads each line as an entry: a stack trace keeps its event's priority on every line. */
    private static String withPriority(String lines, int priority) {
        String prefix = "<" + priority + ">";
        StringBuilder out = new StringBuilder(lines.length() + 8);
        int start = 0;
        while (start < lines.length()) {
            int end = lines.indexOf('\n', start);
            end = end < 0 ? lines.length() : end + 1;
            out.append(prefix).append(lines, start, end);
            start = end;
        }
        return out.toString();
    }

    static String json(ILoggingEvent event, boolean withTime) {
        StringBuilder json = new StringBuilder(256).append('{');
        if (withTime) {
            field(json, "time", TIME.format(Instant.ofEpochMilli(event.getTimeStamp())));
        }
        field(json, "level", event.getLevel().toString());
        String logger = event.getLoggerName();
        field(json, "logger", logger.substring(logger.lastIndexOf('.') + 1));
        List<KeyValuePair> pairs = event.getKeyValuePairs();
        if (pairs == null || pairs.isEmpty()) {
            field(json, "message", event.getFormattedMessage());
        } else {
            for (KeyValuePair pair : pairs) {
                field(json, pair.key, pair.value);
            }
        }
        IThrowableProxy thrown = event.getThrowableProxy();
        if (thrown != null) {
            field(json, "exception", ThrowableProxyUtil.asString(thrown));
        }
        return json.append("}\n").toString();
    }

    private static void field(StringBuilder json, String key, Object value) {
        if (json.length() > 1) {
            json.append(',');
        }
        string(json, key);
        json.append(':');
        if (value == null) {
            json.append("null");
        } else if (value instanceof Integer || value instanceof Long || value instanceof Boolean) {
            json.append(value);
        } else {
            string(json, value.toString());
        }
    }

    /** RFC 8259 string: quotes, backslashes and control characters escaped; the rest as is (UTF-8). */
    private static void string(StringBuilder json, String text) {
        json.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                case '\n' -> json.append("\\n");
                case '\r' -> json.append("\\r");
                case '\t' -> json.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }
}
