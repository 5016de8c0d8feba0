package org.smtptlsproxy.inbound;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Promise;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.InboundAuth;
import org.smtptlsproxy.smtp.CommandLine;
import org.smtptlsproxy.smtp.Replies;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * Inbound AUTH PLAIN and LOGIN (RFC 4954, 4616) for one {@link SmtpSession}: the refusals, the
 * 334 challenges, the password check off the event loop, and the throttle of failures.
 */
final class AuthExchange {

    private static final Logger LOG = LoggerFactory.getLogger(AuthExchange.class);
    /** A failed AUTH is answered this late: password guessing gets slow. */
    private static final long AUTH_FAILURE_DELAY_MILLIS = 1000;

    private enum Step { NONE, PLAIN_RESPONSE, LOGIN_USER, LOGIN_PASSWORD }

    private final SmtpSession session;
    private final ListenerContext context;
    private final EventExecutor executor;
    private final SessionOutput out;
    private Step step = Step.NONE;
    private String loginUser;
    private boolean authenticated;

    AuthExchange(SmtpSession session, ListenerContext context, EventExecutor executor, SessionOutput out) {
        this.session = session;
        this.context = context;
        this.executor = executor;
        this.out = out;
    }

    boolean isAuthenticated() {
        return authenticated;
    }

    /** AUTH only inside TLS, unless the listener allows it in plaintext for devices without TLS. */
    boolean offered(boolean tls) {
        InboundAuth auth = context.listener().auth();
        return auth != null && !authenticated && (tls || auth.allowPlaintext());
    }

    /** STARTTLS: what was learnt before TLS counts no more (RFC 3207 4.2). */
    void forget() {
        authenticated = false;
    }

    /** A line too long or with control characters ends an exchange in progress. */
    void cancel() {
        step = Step.NONE;
    }

    /**
     * The AUTH command.
     *
     * @param afterEhlo     whether the client has greeted with EHLO (since STARTTLS)
     * @param inTransaction whether a mail transaction is in progress
     */
    void start(CommandLine command, boolean afterEhlo, boolean inTransaction) {
        InboundAuth config = context.listener().auth();
        if (config != null && context.authThrottle().isBlocked(session.client().getAddress())) {
            session.refuseSession("auth_throttled", Replies.TOO_MANY_AUTH_FAILURES);
            LOG.info("session={} client={} AUTH refused: too many failures from this address", session.sessionId(),
                    session.clientAddress());
            return;
        }
        SmtpReply refusal = null;
        if (config == null) {
            refusal = Replies.AUTH_NOT_AVAILABLE;
        } else if (!afterEhlo) {
            refusal = Replies.SEND_HELO_FIRST;
        } else if (authenticated) {
            refusal = Replies.AUTH_ALREADY;
        } else if (inTransaction) {
            refusal = Replies.STARTTLS_IN_TRANSACTION;
        } else if (!session.isTls() && !config.allowPlaintext()) {
            refusal = Replies.AUTH_NEEDS_TLS;
        }
        if (refusal != null) {
            session.reply(refusal);
            out.resumeCommands();
            return;
        }
        String[] words = command.argument().split(" +");
        String mechanism = words[0].toUpperCase(Locale.ROOT);
        String initial = words.length > 1 ? words[1] : null;
        switch (mechanism) {
            case "PLAIN" -> {
                if (initial == null) {
                    challenge(Step.PLAIN_RESPONSE, "");
                } else {
                    checkPlain(initial);
                }
            }
            case "LOGIN" -> {
                if (initial == null) {
                    challenge(Step.LOGIN_USER, "VXNlcm5hbWU6"); // "Username:"
                } else {
                    loginUser(initial);
                }
            }
            default -> end(Replies.AUTH_UNKNOWN_MECHANISM);
        }
    }

    private void loginUser(String base64) {
        String user = decodeBase64(base64);
        if (user == null) {
            end(Replies.AUTH_BAD_ENCODING);
        } else {
            loginUser = user;
            challenge(Step.LOGIN_PASSWORD, "UGFzc3dvcmQ6"); // "Password:"
        }
    }

    private void challenge(Step next, String text) {
        step = next;
        session.reply(SmtpReply.of(334, text));
        out.expectSaslResponse();
    }

    /** The client's answer to a 334. */
    void response(String line) {
        Step current = step;
        step = Step.NONE;
        if (line.equals("*")) {
            end(Replies.AUTH_CANCELLED);
        } else if (current == Step.PLAIN_RESPONSE) {
            checkPlain(line);
        } else if (current == Step.LOGIN_USER) {
            loginUser(line);
        } else if (current == Step.LOGIN_PASSWORD) {
            String password = decodeBase64(line);
            if (password == null) {
                end(Replies.AUTH_BAD_ENCODING);
            } else {
                verify(loginUser, password);
            }
        } else {
            end(Replies.UNKNOWN_COMMAND);
        }
        session.continueAfter("AUTH");
    }

    /** RFC 4616: [authzid] NUL authcid NUL passwd; an authzid other than the user is refused. */
    private void checkPlain(String base64) {
        String decoded = decodeBase64(base64);
        String[] fields = decoded == null ? new String[0] : decoded.split("\0", -1);
        if (fields.length != 3 || (!fields[0].isEmpty() && !fields[0].equals(fields[1]))) {
            end(decoded == null ? Replies.AUTH_BAD_ENCODING : Replies.AUTH_FAILED);
            return;
        }
        verify(fields[1], fields[2]);
    }

    /** Password hashing is slow by design: it runs on a worker, and the answer hops back here. */
    private void verify(String user, String password) {
        Promise<SmtpReply> reply = executor.newPromise();
        session.reply(reply);
        context.blockingWork().execute(() -> {
            boolean ok = context.users().authenticate(user, password);
            executor.execute(() -> {
                context.metrics().authAttempt(ok);
                if (ok) {
                    authenticated = true;
                    reply.setSuccess(Replies.AUTH_SUCCEEDED);
                } else {
                    context.authThrottle().failed(session.client().getAddress());
                    LOG.info("session={} client={} AUTH failed", session.sessionId(), session.clientAddress());
                    executor.schedule(() -> reply.setSuccess(Replies.AUTH_FAILED), AUTH_FAILURE_DELAY_MILLIS,
                            TimeUnit.MILLISECONDS);
                }
            });
        });
        out.resumeCommands();
    }

    private void end(SmtpReply reply) {
        step = Step.NONE;
        session.reply(reply);
        out.resumeCommands();
    }

    private static String decodeBase64(String text) {
        try {
            return new String(Base64.getDecoder().decode(text.strip()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
