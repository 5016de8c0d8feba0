package org.smtptlsproxy.inbound;

/** Out-of-band findings of {@link SmtpServerDecoder}, delivered in order with commands and content. */
public enum DecoderSignal {
    /** A command line over its limit; the excess was discarded up to the line's end. */
    LINE_TOO_LONG,
    /** A command line with a NUL or other control character; it was discarded. */
    INVALID_CHARACTERS,
    /** A bare CR or LF in message data under {@code bare_newlines: reject}; the rest of the data is discarded. */
    BARE_NEWLINE,
    /** Message data over {@code max_message_size}; the rest of the data is discarded. */
    MESSAGE_TOO_LARGE
}
