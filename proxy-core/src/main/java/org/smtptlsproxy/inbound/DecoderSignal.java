package org.smtptlsproxy.inbound;

/** Out-of-band findings of {@link SmtpServerDecoder}, delivered in order with commands and content. */
public enum DecoderSignal {
    /** A command line over its limit, signalled as the limit is passed; the rest is discarded up to the line's end. */
    LINE_TOO_LONG,
    /** A command line with a NUL, bare CR or other control character; it was discarded. */
    INVALID_CHARACTERS,
    /** A command line not completed within the idle timeout of its first byte; the decoder pauses. */
    LINE_TIMEOUT,
    /** A bare CR or LF in message data under {@code bare_newlines: reject}; the rest of the data is discarded. */
    BARE_NEWLINE,
    /** Message data over {@code max_message_size}; the rest of the data is discarded. */
    MESSAGE_TOO_LARGE
}
