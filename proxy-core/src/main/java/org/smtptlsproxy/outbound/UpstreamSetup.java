package org.smtptlsproxy.outbound;

import io.netty.handler.codec.smtp.SmtpRequests;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.smtptlsproxy.auth.OAuth2TokenSource;
import org.smtptlsproxy.config.AuthMechanism;
import org.smtptlsproxy.config.UpstreamAuth;
import org.smtptlsproxy.outbound.UpstreamFailure.Outcome;
import org.smtptlsproxy.smtp.EhloCapabilities;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * Brings a fresh connection to the point where a MAIL may be sent: banner, EHLO, STARTTLS,
 * a verified TLS 1.2+ handshake, EHLO again, AUTH if configured. Every way this can go wrong ends in an
 * {@link UpstreamFailure} naming the step and quoting the upstream's reply.
 */
final class UpstreamSetup {

    private final UpstreamSession session;
    private final SslContext sslContext;
    private final String ehloName;
    private final UpstreamAuth auth;
    /** Null unless auth is XOAUTH2. */
    private final OAuth2TokenSource tokens;
    private final SetupObserver observer;
    private final Promise<UpstreamSession> result;

    private UpstreamSetup(UpstreamSession session, SslContext sslContext, String ehloName, UpstreamAuth auth,
                          OAuth2TokenSource tokens, SetupObserver observer, Promise<UpstreamSession> result) {
        this.session = session;
        this.sslContext = sslContext;
        this.ehloName = ehloName;
        this.auth = auth;
        this.tokens = tokens;
        this.observer = observer;
        this.result = result;
    }

    static Future<UpstreamSession> run(UpstreamSession session, SslContext sslContext, String ehloName,
                                       UpstreamAuth auth, OAuth2TokenSource tokens, SetupObserver observer,
                                       Promise<UpstreamSession> result) {
        UpstreamSetup setup = new UpstreamSetup(session, sslContext, ehloName, auth, tokens, observer, result);
        setup.await(session.banner(), setup::onBanner);
        return result;
    }

    private void onBanner(SmtpReply banner) {
        observer.banner(banner);
        if (banner.code() != 220) {
            fail(Outcome.REJECTED, "upstream " + session.target() + " refused the session: " + banner.oneLine());
            return;
        }
        await(session.send(SmtpRequests.ehlo(ehloName)), this::onEhlo);
    }

    private void onEhlo(SmtpReply reply) {
        if (reply.code() != 250) {
            fail(Outcome.REJECTED, "upstream " + session.target() + " rejected EHLO: " + reply.oneLine());
            return;
        }
        EhloCapabilities capabilities = EhloCapabilities.parse(reply.lines());
        session.capabilities(capabilities);
        observer.ehlo(session, capabilities);
        if (session.isTls()) {
            authenticate();
            return;
        }
        if (!capabilities.startTls()) {
            fail(Outcome.STARTTLS_MISSING,
                    "upstream " + session.target() + " did not offer STARTTLS; not relaying without TLS");
            return;
        }
        session.startTls(sslContext).addListener(f -> {
            if (f.isSuccess()) {
                observer.tlsEstablished(session);
                await(session.send(SmtpRequests.ehlo(ehloName)), this::onEhlo);
            } else {
                fail(f.cause());
            }
        });
    }

    /** AUTH runs only inside TLS: the credentials never cross the network in the clear. */
    private void authenticate() {
        if (auth.mechanism() == AuthMechanism.NONE) {
            result.trySuccess(session);
            return;
        }
        String mechanism = auth.mechanism().name();
        if (!session.capabilities().authMechanisms().contains(mechanism)) {
            fail(Outcome.AUTH_FAILED, "upstream " + session.target() + " does not offer AUTH " + mechanism
                    + " (offers: " + String.join(" ", session.capabilities().authMechanisms()) + ")");
            return;
        }
        String user = auth.username();
        String password = auth.password() == null ? null : auth.password().value();
        switch (auth.mechanism()) {
            case PLAIN -> await(session.send(SmtpRequests.auth("PLAIN", base64("\0" + user + "\0" + password))),
                    this::onAuthResult);
            case LOGIN -> await(session.send(SmtpRequests.auth("LOGIN")), first -> {
                if (first.code() != 334) {
                    onAuthResult(first);
                    return;
                }
                await(session.send(SmtpRequests.empty(base64(user))), second -> {
                    if (second.code() != 334) {
                        onAuthResult(second);
                        return;
                    }
                    await(session.send(SmtpRequests.empty(base64(password))), this::onAuthResult);
                });
            });
            case XOAUTH2 -> tokens.token().whenComplete((token, failure) -> session.eventLoop().execute(() -> {
                if (failure != null) {
                    fail(Outcome.AUTH_FAILED, "no OAuth2 token for AUTH XOAUTH2 to upstream " + session.target() + ": "
                            + TlsFailures.reason(failure));
                    return;
                }
                String response = "user=" + user + "\u0001auth=Bearer " + token + "\u0001\u0001";
                await(session.send(SmtpRequests.auth("XOAUTH2", base64(response))), reply -> {
                    if (reply.code() == 334) {
                        // RFC 7628: the 334 carries the error as JSON; an empty line ends the exchange with a 5xx.
                        await(session.send(SmtpRequests.empty()), this::onAuthResult);
                    } else {
                        onAuthResult(reply);
                    }
                });
            }));
            default -> fail(Outcome.AUTH_FAILED, "AUTH " + mechanism + " is not supported towards the upstream");
        }
    }


    private void onAuthResult(SmtpReply reply) {
        if (reply.code() == 235) {
            session.authenticated();
            observer.authenticated(auth.mechanism().name(), reply);
            result.trySuccess(session);
        } else {
            fail(Outcome.AUTH_FAILED, "upstream " + session.target() + " rejected AUTH " + auth.mechanism().name()
                    + " for " + auth.username() + ": " + reply.oneLine());
        }
    }

    private static String base64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private void await(Future<SmtpReply> reply, java.util.function.Consumer<SmtpReply> next) {
        reply.addListener(f -> {
            if (f.isSuccess()) {
                next.accept(reply.getNow());
            } else {
                fail(f.cause());
            }
        });
    }

    private void fail(Outcome outcome, String reason) {
        UpstreamFailure failure = new UpstreamFailure(outcome, reason);
        session.abort(failure);
        result.tryFailure(failure.asException());
    }

    private void fail(Throwable cause) {
        UpstreamFailure failure = UpstreamFailure.of(cause);
        if (failure.outcome() == Outcome.CONNECTION_LOST) {
            // A drop before the session was usable is the upstream breaking the protocol.
            failure = new UpstreamFailure(Outcome.PROTOCOL_ERROR, failure.reason() + " during set-up");
        }
        session.abort(failure);
        result.tryFailure(failure.asException());
    }
}
