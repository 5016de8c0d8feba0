package org.smtptlsproxy.smtp;

/** The proxy's own replies, each with its enhanced status code (RFC 3463). */
public final class Replies {

    public static final SmtpReply OK = SmtpReply.of(250, "2.0.0 OK");
    public static final SmtpReply RESET_OK = SmtpReply.of(250, "2.0.0 Flushed");
    public static final SmtpReply READY_TO_START_TLS = SmtpReply.of(220, "2.0.0 Ready to start TLS");
    public static final SmtpReply BYE = SmtpReply.of(221, "2.0.0 Bye");
    public static final SmtpReply CANNOT_VRFY =
            SmtpReply.of(252, "2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
    public static final SmtpReply HELP = SmtpReply.of(214,
            "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS");

    public static final SmtpReply CLIENT_NOT_ALLOWED = SmtpReply.of(554, "5.7.1 Access denied: client not allowed");
    public static final SmtpReply TOO_MANY_CONNECTIONS = SmtpReply.of(421, "4.7.0 Too many connections, try again later");
    public static final SmtpReply TOO_MANY_FROM_CLIENT =
            SmtpReply.of(421, "4.7.0 Too many connections from your address, try again later");
    public static final SmtpReply IDLE_TIMEOUT = SmtpReply.of(421, "4.4.2 Idle timeout, closing connection");
    public static final SmtpReply SHUTTING_DOWN = SmtpReply.of(421, "4.3.2 Shutting down, try again later");

    public static final SmtpReply LINE_TOO_LONG = SmtpReply.of(500, "5.5.2 Line too long");
    public static final SmtpReply CONTROL_CHARACTERS =
            SmtpReply.of(500, "5.5.2 Syntax error: NUL, bare CR or other control character in command");
    public static final SmtpReply INVALID_UTF8 = SmtpReply.of(500, "5.5.2 Syntax error: command is not valid UTF-8");
    public static final SmtpReply INVALID_UTF8_ADDRESS = SmtpReply.of(553, "5.6.7 Address is not valid UTF-8");
    public static final SmtpReply NON_ASCII_WITHOUT_SMTPUTF8 =
            SmtpReply.of(553, "5.6.7 Non-ASCII address not permitted without SMTPUTF8");
    public static final SmtpReply LINE_TIMEOUT =
            SmtpReply.of(421, "4.4.2 Command line not completed in time, closing connection");
    public static final SmtpReply FORBIDDEN_COMMAND =
            SmtpReply.of(554, "5.7.0 Forbidden command: this is an SMTP server, closing connection");
    public static final SmtpReply TOO_MANY_AUTH_FAILURES =
            SmtpReply.of(421, "4.7.0 Too many failed authentications from your address, try again later");
    public static final SmtpReply UNKNOWN_COMMAND = SmtpReply.of(500, "5.5.1 Command unrecognized");
    public static final SmtpReply NOT_IMPLEMENTED = SmtpReply.of(502, "5.5.1 Command not implemented");
    public static final SmtpReply SYNTAX_ERROR_IN_PARAMETERS = SmtpReply.of(501, "5.5.4 Syntax error in parameters");
    public static final SmtpReply HELO_REQUIRES_DOMAIN = SmtpReply.of(501, "5.5.4 Syntax: HELO/EHLO domain");
    public static final SmtpReply BAD_SENDER_SYNTAX = SmtpReply.of(501, "5.1.7 Bad sender address syntax");
    public static final SmtpReply BAD_RECIPIENT_SYNTAX = SmtpReply.of(501, "5.1.3 Bad recipient address syntax");
    public static final SmtpReply SEND_HELO_FIRST = SmtpReply.of(503, "5.5.1 Send HELO/EHLO first");
    public static final SmtpReply NESTED_MAIL = SmtpReply.of(503, "5.5.1 Nested MAIL command");
    public static final SmtpReply NEED_MAIL = SmtpReply.of(503, "5.5.1 Need MAIL command");
    public static final SmtpReply NEED_RCPT = SmtpReply.of(503, "5.5.1 Need RCPT command");
    public static final SmtpReply NO_VALID_RECIPIENTS = SmtpReply.of(554, "5.5.1 No valid recipients");
    public static final SmtpReply TLS_ALREADY_ACTIVE = SmtpReply.of(503, "5.5.1 TLS already active");
    public static final SmtpReply TLS_NOT_AVAILABLE = SmtpReply.of(502, "5.5.1 STARTTLS not available");
    public static final SmtpReply STARTTLS_IN_TRANSACTION = SmtpReply.of(503, "5.5.1 MAIL transaction in progress");
    public static final SmtpReply AUTH_NOT_AVAILABLE = SmtpReply.of(502, "5.5.1 AUTH not available");
    public static final SmtpReply AUTH_SUCCEEDED = SmtpReply.of(235, "2.7.0 Authentication successful");
    public static final SmtpReply AUTH_FAILED = SmtpReply.of(535, "5.7.8 Authentication credentials invalid");
    public static final SmtpReply AUTH_REQUIRED = SmtpReply.of(530, "5.7.0 Authentication required");
    public static final SmtpReply AUTH_NEEDS_TLS = SmtpReply.of(538, "5.7.11 Encryption required for requested authentication mechanism");
    public static final SmtpReply AUTH_ALREADY = SmtpReply.of(503, "5.5.1 Already authenticated");
    public static final SmtpReply AUTH_CANCELLED = SmtpReply.of(501, "5.7.0 Authentication cancelled");
    public static final SmtpReply AUTH_BAD_ENCODING = SmtpReply.of(501, "5.5.2 Cannot decode the response");
    public static final SmtpReply AUTH_UNKNOWN_MECHANISM = SmtpReply.of(504, "5.5.4 Unrecognized authentication mechanism");
    public static final SmtpReply SENDER_NOT_ALLOWED = SmtpReply.of(550, "5.7.1 Sender address not allowed on this listener");
    public static final SmtpReply TOO_MANY_ERRORS = SmtpReply.of(421, "4.7.0 Too many errors, closing connection");
    public static final SmtpReply MUST_STARTTLS = SmtpReply.of(530, "5.7.0 Must issue a STARTTLS command first");
    public static final SmtpReply TOO_MANY_RECIPIENTS = SmtpReply.of(452, "4.5.3 Too many recipients");
    public static final SmtpReply MESSAGE_TOO_BIG = SmtpReply.of(552, "5.3.4 Message size exceeds fixed limit");
    public static final SmtpReply BARE_NEWLINE = SmtpReply.of(550, "5.6.11 bare CR or LF in message data");
    public static final SmtpReply UNSUPPORTED_PARAMETER =
            SmtpReply.of(555, "5.5.4 MAIL FROM/RCPT TO parameters not recognized or not implemented");

    public static final SmtpReply UPSTREAM_LOST =
            SmtpReply.of(451, "4.4.2 Connection to upstream lost, message not relayed; try again later");

    private Replies() {
    }

    /** 555 for a MAIL parameter that the upstream cannot honour and that may not be dropped. */
    public static SmtpReply parameterNotSupportedUpstream(String parameter) {
        return SmtpReply.of(555, "5.5.4 " + parameter + " not supported by the upstream server");
    }

    public static SmtpReply greeting(String hostname) {
        return SmtpReply.of(220, hostname + " ESMTP smtp-tls-proxy ready");
    }
}
