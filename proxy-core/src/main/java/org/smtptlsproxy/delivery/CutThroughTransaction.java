package org.smtptlsproxy.delivery;

import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.smtp.DefaultLastSmtpContent;
import io.netty.handler.codec.smtp.DefaultSmtpContent;
import io.netty.handler.codec.smtp.SmtpRequests;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import org.smtptlsproxy.outbound.UpstreamCommands;
import org.smtptlsproxy.outbound.UpstreamFailure;
import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.outbound.UpstreamTransaction;
import org.smtptlsproxy.smtp.MailParameters;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.Replies;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * One transaction relayed as it happens: each envelope command goes upstream the moment the
 * client sent it (pipelined, RFC 2920), the content streams through, and every reply the client
 * gets is the upstream's own, unless the upstream cannot be trusted or is lost (a 4xx then).
 */
final class CutThroughTransaction implements DeliveryTransaction {

    private final CutThroughSession owner;
    /** Carries MAIL, RCPT and DATA to the upstream, behind the probe of a reused session. */
    private final UpstreamTransaction upstream;
    private final EventLoop loop;
    private final boolean clientAuthenticated;
    /** Set by MAIL when the upstream lacks an extension the sender's parameters need. */
    private SmtpReply unsupportedUpstream;

    CutThroughTransaction(CutThroughSession owner, UpstreamTransaction upstream, EventLoop loop,
                          boolean clientAuthenticated) {
        this.owner = owner;
        this.upstream = upstream;
        this.loop = loop;
        this.clientAuthenticated = clientAuthenticated;
    }

    @Override
    public Future<SmtpReply> mail(MailPath sender) {
        Promise<SmtpReply> reply = loop.newPromise();
        upstream.run(session -> {
            unsupportedUpstream = MailParameters.checkUpstreamSupports(sender.parameters(), session.capabilities());
            if (unsupportedUpstream != null) {
                return loop.newSucceededFuture(unsupportedUpstream);
            }
            return session.send(UpstreamCommands.mail(sender.address(),
                    MailParameters.forMail(sender.parameters(), session.capabilities(), authParameter(sender, session))));
        }).addListener(r -> reply.setSuccess(r.isSuccess() && unsupportedUpstream != null
                ? unsupportedUpstream // refused on the upstream's behalf, nothing was sent
                : expect(r, 2)));
        return reply;
    }

    /**
     * RFC 4954 5: AUTH= goes to an upstream only on a session authenticated to it; it names the
     * sender's own authenticated submission, or is "<>" when this proxy cannot vouch for one.
     */
    private String authParameter(MailPath sender, UpstreamSession session) {
        if (!session.isAuthenticated()) {
            return null;
        }
        String claimed = sender.parameters().get("AUTH");
        return clientAuthenticated && claimed != null ? claimed : "<>";
    }

    @Override
    public Future<SmtpReply> rcpt(MailPath recipient) {
        // Sent at once, not after MAIL's reply: pipelined upstream too.
        return relay(upstream.run(session -> session.send(UpstreamCommands.rcpt(recipient.address(),
                MailParameters.forRcpt(recipient.parameters(), session.capabilities())))), 2);
    }

    @Override
    public Future<SmtpReply> data() {
        Promise<SmtpReply> reply = loop.newPromise();
        upstream.run(session -> session.send(SmtpRequests.data())).addListener(r -> {
            SmtpReply upstreamReply = expect(r, 3);
            if (upstreamReply.code() != 354) {
                // The upstream's encoder still expects content after DATA: only RSET clears that.
                owner.needsReset();
            }
            reply.setSuccess(upstreamReply);
        });
        return reply;
    }

    @Override
    public void content(ByteBuf chunk) {
        upstream.session().writeContent(new DefaultSmtpContent(chunk));
    }

    @Override
    public boolean isWritable() {
        return upstream.session().isWritable();
    }

    @Override
    public void onWritable(Runnable listener) {
        upstream.session().onWritable(listener);
    }

    @Override
    public SmtpReply failure() {
        UpstreamSession session = upstream.session();
        return session == null || !session.isUsable() ? Replies.UPSTREAM_LOST : null;
    }

    @Override
    public Future<SmtpReply> endOfData(ByteBuf last) {
        return relay(upstream.session().endData(new DefaultLastSmtpContent(last)), 2);
    }

    /**
     * The upstream connection is closed without an end-of-data, so nothing of this message is
     * delivered.
     */
    @Override
    public void abort(String reason) {
        UpstreamSession session = upstream.session();
        upstream.abandon(reason);
        owner.forget(session);
    }

    @Override
    public void reset() {
        if (upstream.session() == null) {
            // Still waiting for a session or its probe: drop that one, the next MAIL starts afresh.
            upstream.abandon("transaction reset before the upstream session was ready");
        } else {
            owner.needsReset();
        }
    }

    @Override
    public String tlsProtocol() {
        UpstreamSession session = upstream.session();
        return session == null || unsupportedUpstream != null ? "none" : session.tlsProtocol();
    }

    @Override
    public String tlsCipher() {
        UpstreamSession session = upstream.session();
        return session == null || unsupportedUpstream != null ? "none" : session.tlsCipher();
    }

    private Future<SmtpReply> relay(Future<SmtpReply> sent, int expectedClass) {
        Promise<SmtpReply> reply = loop.newPromise();
        sent.addListener(r -> reply.setSuccess(expect(r, expectedClass)));
        return reply;
    }

    /**
     * The reply an upstream command got, or the 4xx for a lost connection. A success class other
     * than the expected one means the upstream and we disagree about where we are: not trusted.
     */
    private SmtpReply expect(Future<?> result, int expectedClass) {
        if (!result.isSuccess()) {
            return UpstreamFailure.of(result.cause()).toReply();
        }
        SmtpReply reply = (SmtpReply) result.getNow();
        if (reply.codeClass() <= 3 && reply.codeClass() != expectedClass) {
            UpstreamSession session = upstream.session();
            if (session != null) {
                session.abort("unexpected upstream reply " + reply.oneLine());
            }
            return SmtpReply.of(451, "4.5.0 Unexpected reply from upstream (" + reply.oneLine() + "); try again later");
        }
        return reply;
    }
}
