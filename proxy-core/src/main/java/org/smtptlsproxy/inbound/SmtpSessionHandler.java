package org.smtptlsproxy.inbound;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.smtp.DefaultSmtpContent;
import io.netty.handler.codec.smtp.LastSmtpContent;
import io.netty.handler.codec.smtp.SmtpContent;
import io.netty.handler.codec.smtp.SmtpRequests;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.ZonedDateTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.Durations;
import org.smtptlsproxy.config.InboundAuth;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.metrics.ProxyMetrics.MessageOutcome;
import org.smtptlsproxy.outbound.UpstreamFailure;
import org.smtptlsproxy.outbound.UpstreamCommands;
import org.smtptlsproxy.outbound.UpstreamLease;
import org.smtptlsproxy.outbound.UpstreamSession;
import org.smtptlsproxy.outbound.UpstreamTransaction;
import org.smtptlsproxy.relay.ReceivedHeader;
import org.smtptlsproxy.relay.TransactionLog;
import org.smtptlsproxy.smtp.CommandLine;
import org.smtptlsproxy.smtp.MailParameters;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.Replies;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;
import org.smtptlsproxy.tls.SessionResumption;
import org.smtptlsproxy.tls.TlsFailures;

/**
 * The server side of one SMTP session and the relay of its transactions to the upstream.
 *
 * <p>Reading is explicit (auto-read is off): a {@code FlowControlHandler} in front hands over one
 * command or data chunk per {@link #requestNext()}. Commands that can be pipelined (MAIL, RCPT,
 * NOOP...) are acted on at once and their replies queued in order; the others (EHLO, DATA, RSET,
 * STARTTLS, QUIT...) wait until every earlier reply has been written. Upstream replies reach the
 * client verbatim and in order, and the client never gets a 250 for its data before the upstream
 * gave one.
 *
 * <p>Everything runs on the channel's event loop, which is also the upstream connection's loop:
 * no field needs to be volatile.
 */
public final class SmtpSessionHandler extends ChannelInboundHandlerAdapter {

    private static final Logger LOG = LoggerFactory.getLogger(SmtpSessionHandler.class);
    /** Pipelined commands in flight before we stop reading more from a client. */
    private static final int MAX_PENDING_REPLIES = 100;
    /** Protocol errors (5xx replies to commands) before a session is cut off as garbage. */
    private static final int MAX_ERRORS = 20;
    /** The probe result for this client's own session when its last transaction ended cleanly. */
    private static final Future<SmtpReply> CLEAN_SESSION =
            io.netty.util.concurrent.ImmediateEventExecutor.INSTANCE.newSucceededFuture(Replies.OK);
    private static final int SLOW_AFTER_ERRORS = 5;
    private static final long ERROR_DELAY_MILLIS = 100;
    /** A failed AUTH is answered this late: password guessing gets slow. */
    private static final long AUTH_FAILURE_DELAY_MILLIS = 1000;

    private enum Phase { CONNECTED, GREETED, CLOSING }

    private final ListenerContext context;
    private final String sessionId = newSessionId();

    private ChannelHandlerContext ctx;
    private SmtpServerDecoder decoder;
    private InetSocketAddress client;
    private Phase phase = Phase.CONNECTED;
    private String heloName;
    private boolean esmtp;
    private SSLSession tls;

    private MailTransaction transaction;
    private UpstreamSession upstream;
    private boolean upstreamNeedsReset;

    private final ArrayDeque<Future<SmtpReply>> replies = new ArrayDeque<>();
    private CommandLine held;
    private boolean readWhenDrained;
    private boolean dispatching;
    private boolean wantMore;
    private boolean awaitingClient;
    private boolean waitingForUpstream;
    private int transactionsCounted;
    private int errors;
    private boolean readWhenWritable;

    private enum AuthStep { NONE, PLAIN_RESPONSE, LOGIN_USER, LOGIN_PASSWORD }

    private AuthStep authStep = AuthStep.NONE;
    private String loginUser;
    private boolean authenticated;
    /** Why the session ended, for the log line of a session without transactions. */
    private String endReason = "client_closed";

    public SmtpSessionHandler(ListenerContext context) {
        this.context = context;
    }

    public String sessionId() {
        return sessionId;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.decoder = ctx.pipeline().get(SmtpServerDecoder.class);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        client = ClientAddress.of(ctx.channel());
        SslHandler implicitTls = ctx.pipeline().get(SslHandler.class);
        if (implicitTls != null) {
            watchHandshake(implicitTls);
        }
        reply(Replies.greeting(context.hostname()));
        requestNext();
        ctx.fireChannelActive();
    }

    // ---- reading, one message at a time ------------------------------------------------------

    /**
     * Asks for the next command or data chunk. The FlowControlHandler may deliver it inside
     * {@code ctx.read()}; the trampoline keeps a burst of pipelined commands from recursing.
     */
    private void requestNext() {
        if (phase == Phase.CLOSING) {
            return;
        }
        if (dispatching) {
            wantMore = true;
            return;
        }
        if (!ctx.channel().isWritable()) {
            // A client that does not read its replies must not make us queue them without bound.
            readWhenWritable = true;
            return;
        }
        dispatching = true;
        try {
            do {
                wantMore = false;
                awaitingClient = true;
                ctx.read();
            } while (wantMore && phase != Phase.CLOSING);
        } finally {
            dispatching = false;
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        awaitingClient = false;
        if (phase == Phase.CLOSING) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof CommandLine command) {
            if (isSynchronizing(command.verb()) && !replies.isEmpty() && !joinsEnvelope(command.verb())) {
                held = command; // acted on once every earlier reply is out
            } else {
                execute(command);
            }
        } else if (msg instanceof SmtpContent content) {
            onContent(content);
        } else if (msg instanceof SmtpServerDecoder.SaslResponse response) {
            onSaslResponse(response.line());
        } else if (msg instanceof DecoderSignal signal) {
            onSignal(signal);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /**
     * A read cycle ended. With auto-read off, Netty's contract is that a demand not met by the
     * cycle (say, half a command line arrived) is dropped here: ask again while we still wait.
     */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (awaitingClient) {
            requestNext();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (ctx.channel().isWritable() && readWhenWritable) {
            readWhenWritable = false;
            requestNext();
        }
        ctx.fireChannelWritabilityChanged();
    }

    /**
     * DATA behind a transaction's MAIL and RCPT runs before their replies are out: it goes upstream
     * with them, and the proxy still reads no data before its 354 (see {@link #data}).
     */
    private boolean joinsEnvelope(String verb) {
        return verb.equals("DATA") && transaction != null && !transaction.inData;
    }

    private static boolean isSynchronizing(String verb) {
        return switch (verb) {
            case "MAIL", "RCPT", "NOOP", "VRFY", "HELP" -> false;
            default -> true;
        };
    }

    /** After a command: read on now, or once the replies it depends on are out. */
    private void continueAfter(String verb) {
        if (replies.isEmpty() || (!isSynchronizing(verb) && replies.size() < MAX_PENDING_REPLIES)) {
            requestNext();
        } else {
            readWhenDrained = true;
        }
    }

    // ---- replies, strictly in order -----------------------------------------------------------

    /**
     * The proxy's own replies. Protocol errors (500-504) are counted: after a few, each is
     * delayed, and at {@link #MAX_ERRORS} the client is dropped, so garbage costs the sender time.
     */
    private void reply(SmtpReply reply) {
        if (reply.code() >= 500 && reply.code() <= 504 && ++errors > SLOW_AFTER_ERRORS) {
            Promise<SmtpReply> delayed = ctx.executor().newPromise();
            ctx.executor().schedule(() -> delayed.setSuccess(reply), ERROR_DELAY_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
            reply(delayed);
            return;
        }
        reply(ctx.executor().newSucceededFuture(reply));
    }

    private void reply(Future<SmtpReply> reply) {
        replies.add(reply);
        reply.addListener(f -> drainReplies());
    }

    private void drainReplies() {
        boolean wrote = false;
        while (!replies.isEmpty() && replies.peekFirst().isDone()) {
            Future<SmtpReply> head = replies.pollFirst();
            SmtpReply reply = head.isSuccess() ? head.getNow() : UpstreamFailure.of(head.cause()).toReply();
            ctx.write(reply);
            wrote = true;
            if (reply.code() >= 500 && reply.code() <= 504 && errors >= MAX_ERRORS && phase != Phase.CLOSING) {
                endReason = "too_many_errors";
                phase = Phase.CLOSING;
                replies.clear();
                ctx.writeAndFlush(Replies.TOO_MANY_ERRORS).addListener(ChannelFutureListener.CLOSE);
                return;
            }
        }
        if (wrote) {
            ctx.flush();
        }
        if (replies.isEmpty() && phase != Phase.CLOSING) {
            if (held != null) {
                CommandLine command = held;
                held = null;
                execute(command);
            } else if (readWhenDrained) {
                readWhenDrained = false;
                requestNext();
            }
        }
    }

    // ---- commands -----------------------------------------------------------------------------

    private void execute(CommandLine command) {
        String verb = command.verb();
        if (context.shutdown().isDraining() && transaction == null) {
            // Between transactions while draining: the sender retries elsewhere or later.
            endReason = "shutdown";
            phase = Phase.CLOSING;
            ctx.writeAndFlush(Replies.SHUTTING_DOWN).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        if (isForbidden(verb)) {
            refuseSession("forbidden_command", Replies.FORBIDDEN_COMMAND);
            LOG.info("session={} client={} forbidden command {}, closing", sessionId, clientAddress(),
                    verb.length() > 16 ? verb.substring(0, 16) + "..." : verb);
            return;
        }
        if (!command.validUtf8() && !verb.equals("MAIL") && !verb.equals("RCPT")) {
            reply(Replies.INVALID_UTF8);
            if (SmtpServerDecoder.changesPhase(verb)) {
                decoder.resumeCommands();
            }
            continueAfter(verb);
            return;
        }
        switch (verb) {
            case "EHLO", "HELO" -> hello(command);
            case "MAIL" -> mail(command);
            case "RCPT" -> rcpt(command);
            case "DATA" -> data(command);
            case "RSET" -> rset();
            case "NOOP" -> reply(Replies.OK);
            case "VRFY" -> reply(Replies.CANNOT_VRFY);
            case "HELP" -> reply(Replies.HELP);
            case "STARTTLS" -> {
                startTls(command);
                return;
            }
            case "QUIT" -> {
                quit();
                return;
            }
            case "AUTH" -> auth(command);
            case "BDAT" -> {
                reply(Replies.NOT_IMPLEMENTED);
                decoder.resumeCommands();
            }
            case "EXPN", "TURN", "ETRN", "SEND", "SOML", "SAML" -> reply(Replies.NOT_IMPLEMENTED);
            default -> reply(Replies.UNKNOWN_COMMAND);
        }
        if (!verb.equals("DATA")) {
            continueAfter(verb);
        }
    }

    /**
     * What a browser or an HTTP proxy client sends (Postfix's smtpd_forbidden_commands): such a
     * peer is no mail sender, and its next lines may be an attack on something else.
     */
    private static boolean isForbidden(String verb) {
        return switch (verb) {
            case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE" -> true;
            default -> verb.endsWith(":"); // a header line such as "Host:" or "User-Agent:"
        };
    }

    /** Closes the session for abuse, counted and with the reason for the log. */
    private void refuseSession(String reason, SmtpReply reply) {
        abandonTransaction();
        context.metrics().sessionRefused(context.name(), reason);
        endReason = reason;
        phase = Phase.CLOSING;
        replies.clear();
        ctx.writeAndFlush(reply).addListener(ChannelFutureListener.CLOSE);
    }

    private void hello(CommandLine command) {
        if (!command.hasArgument()) {
            reply(Replies.HELO_REQUIRES_DOMAIN);
            return;
        }
        abandonTransaction();
        heloName = command.argument();
        esmtp = command.verb().equals("EHLO");
        phase = Phase.GREETED;
        String greeting = context.hostname() + " Hello " + heloName + " [" + client.getAddress().getHostAddress() + "]";
        if (!esmtp) {
            reply(SmtpReply.of(250, greeting));
            return;
        }
        List<String> lines = new ArrayList<>(8);
        lines.add(greeting);
        lines.add("PIPELINING");
        lines.add("SIZE " + context.limits().maxMessageSize().bytes());
        lines.add("8BITMIME");
        lines.add("ENHANCEDSTATUSCODES");
        lines.add("SMTPUTF8");
        lines.add("DSN");
        if (offersStartTls()) {
            lines.add("STARTTLS");
        }
        if (offersAuth()) {
            lines.add("AUTH PLAIN LOGIN");
        }
        reply(new SmtpReply(250, lines));
    }

    /** AUTH only inside TLS, unless the listener allows it in plaintext for devices without TLS. */
    private boolean offersAuth() {
        InboundAuth auth = context.listener().auth();
        return auth != null && !authenticated && (tls != null || auth.allowPlaintext());
    }

    private boolean offersStartTls() {
        return context.listener().tls().mode() == InboundTlsMode.STARTTLS && tls == null;
    }

    private void mail(CommandLine command) {
        if (transaction != null && phase == Phase.GREETED) {
            reply(Replies.NESTED_MAIL); // the transaction in progress goes on
            return;
        }
        MailPath sender = command.validUtf8() ? MailPath.parse(command.argument(), "FROM:").orElse(null) : null;
        SmtpReply refusal = mailRefusal(command, sender);
        if (refusal != null) {
            reply(refusal);
            countTransaction(sender == null ? null : sender.address(), 0, 0, 0, refusal, System.nanoTime(), null,
                    UpstreamReplyReason.quotedIn(refusal).label());
            return;
        }
        MailTransaction txn = new MailTransaction(sender, upstreamFor());
        transaction = txn;
        Promise<SmtpReply> reply = ctx.executor().newPromise();
        reply(reply);
        txn.upstream.run(session -> {
            txn.unsupportedUpstream = MailParameters.checkUpstreamSupports(sender.parameters(), session.capabilities());
            if (txn.unsupportedUpstream != null) {
                return ctx.executor().newSucceededFuture(txn.unsupportedUpstream);
            }
            return session.send(UpstreamCommands.mail(sender.address(),
                    MailParameters.forMail(sender.parameters(), session.capabilities(), authParameter(sender, session))));
        }).addListener(r -> {
            if (r.isSuccess() && txn.unsupportedUpstream != null) {
                endTransaction(txn, txn.unsupportedUpstream, null); // refused on the upstream's behalf, nothing was sent
                reply.setSuccess(txn.unsupportedUpstream);
                return;
            }
            SmtpReply upstreamReply = expect(r, txn, 2);
            txn.mailAccepted = upstreamReply.isPositiveCompletion();
            if (!txn.mailAccepted) {
                endTransaction(txn, upstreamReply, txn.session());
            }
            reply.setSuccess(upstreamReply);
        });
    }

    /** Why the proxy itself refuses this MAIL, or null. */
    private SmtpReply mailRefusal(CommandLine command, MailPath sender) {
        if (phase != Phase.GREETED) {
            return Replies.SEND_HELO_FIRST;
        }
        if (context.listener().requireTls() && tls == null) {
            return Replies.MUST_STARTTLS;
        }
        InboundAuth auth = context.listener().auth();
        if (auth != null && auth.required() && !authenticated) {
            return Replies.AUTH_REQUIRED;
        }
        if (!command.validUtf8()) {
            return command.argument().toUpperCase(java.util.Locale.ROOT).contains(" SMTPUTF8")
                    ? Replies.INVALID_UTF8_ADDRESS : Replies.NON_ASCII_WITHOUT_SMTPUTF8;
        }
        if (sender == null) {
            return Replies.BAD_SENDER_SYNTAX;
        }
        if (!sender.isAscii() && !sender.parameters().containsKey("SMTPUTF8")) {
            return Replies.NON_ASCII_WITHOUT_SMTPUTF8;
        }
        if (!SenderPolicy.allows(context.listener().allowedSenders(), sender.address())) {
            return Replies.SENDER_NOT_ALLOWED;
        }
        return MailParameters.checkMail(sender.parameters(), context.limits().maxMessageSize().bytes());
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
        return authenticated && claimed != null ? claimed : "<>";
    }

    private void rcpt(CommandLine command) {
        MailTransaction txn = transaction;
        if (txn == null) {
            reply(Replies.NEED_MAIL);
            return;
        }
        boolean smtpUtf8 = txn.sender.parameters().containsKey("SMTPUTF8");
        if (!command.validUtf8()) {
            reply(smtpUtf8 ? Replies.INVALID_UTF8_ADDRESS : Replies.NON_ASCII_WITHOUT_SMTPUTF8);
            return;
        }
        MailPath recipient = MailPath.parse(command.argument(), "TO:").orElse(null);
        if (recipient == null || recipient.isNullPath()) {
            reply(Replies.BAD_RECIPIENT_SYNTAX);
            return;
        }
        if (!recipient.isAscii() && !smtpUtf8) {
            reply(Replies.NON_ASCII_WITHOUT_SMTPUTF8);
            return;
        }
        SmtpReply refusal = MailParameters.checkRcpt(recipient.parameters(), smtpUtf8);
        if (refusal != null) {
            reply(refusal);
            return;
        }
        if (txn.recipients >= context.limits().maxRecipients()) {
            reply(Replies.TOO_MANY_RECIPIENTS);
            return;
        }
        txn.recipients++;
        Promise<SmtpReply> reply = ctx.executor().newPromise();
        reply(reply);
        // Sent at once, not after MAIL's reply: pipelined upstream too.
        txn.upstream.run(session -> session.send(UpstreamCommands.rcpt(recipient.address(),
                MailParameters.forRcpt(recipient.parameters(), session.capabilities())))).addListener(r -> {
            SmtpReply upstreamReply = expect(r, txn, 2);
            txn.recipientReply(upstreamReply); // for the log's reason=
            if (upstreamReply.isPositiveCompletion()) {
                txn.accepted++;
            }
            reply.setSuccess(upstreamReply);
        });
    }

    /**
     * DATA goes upstream right behind the envelope, before its replies are in (RFC 2920), so a
     * pipelining sender's MAIL, RCPT and DATA cost the upstream one round trip. What the proxy
     * would have said had it waited (no MAIL, no accepted recipient) is decided when the reply
     * comes, and overrides it.
     */
    private void data(CommandLine command) {
        MailTransaction txn = transaction;
        SmtpReply refusal = null;
        if (command.hasArgument()) {
            refusal = Replies.SYNTAX_ERROR_IN_PARAMETERS;
        } else if (txn == null) {
            refusal = Replies.NEED_MAIL;
        } else if (txn.recipients == 0) {
            refusal = Replies.NEED_RCPT;
        }
        if (refusal != null) {
            reply(refusal);
            decoder.resumeCommands();
            continueAfter("DATA");
            return;
        }
        Promise<SmtpReply> reply = ctx.executor().newPromise();
        reply(reply);
        // Before the send: on an upstream already lost, the reply is settled (and the queue
        // drained) inside this very call, and reading must then resume.
        readWhenDrained = true;
        txn.upstream.run(session -> session.send(SmtpRequests.data())).addListener(r -> {
            SmtpReply upstreamReply = expect(r, txn, 3);
            UpstreamSession session = txn.session();
            SmtpReply ownReply = transaction != txn ? Replies.NEED_MAIL
                    : txn.accepted == 0 ? Replies.NO_VALID_RECIPIENTS : null;
            if (ownReply == null && upstreamReply.code() == 354) {
                txn.inData = true;
                session.onWritable(this::onUpstreamWritable);
                if (context.receivedHeader()) {
                    session.writeContent(new DefaultSmtpContent(Unpooled.wrappedBuffer(receivedHeader(txn))));
                }
                decoder.startData();
                reply.setSuccess(upstreamReply);
                return;
            }
            if (upstreamReply.code() == 354) {
                // Ready for data of a transaction we refuse: only a dropped connection ends that.
                session.abort("upstream accepted DATA without a MAIL or an accepted recipient");
            } else {
                // The upstream's encoder still expects content after DATA: only RSET clears that.
                upstreamNeedsReset = true;
            }
            if (ownReply == null) {
                endTransaction(txn, upstreamReply, session);
            }
            decoder.resumeCommands();
            reply.setSuccess(ownReply != null ? ownReply : upstreamReply);
        });
    }

    private byte[] receivedHeader(MailTransaction txn) {
        return ReceivedHeader.build(heloName, client.getAddress().getHostAddress(), context.hostname(), esmtp,
                txn.sender.parameters().containsKey("SMTPUTF8"), authenticated,
                tls == null ? null : tls.getProtocol(), tls == null ? null : tls.getCipherSuite(), sessionId,
                ZonedDateTime.now());
    }

    private void rset() {
        abandonTransaction();
        reply(Replies.RESET_OK);
    }

    private void quit() {
        abandonTransaction();
        endReason = "quit";
        phase = Phase.CLOSING;
        ctx.writeAndFlush(Replies.BYE).addListener(ChannelFutureListener.CLOSE);
    }

    private void startTls(CommandLine command) {
        SmtpReply refusal = null;
        if (tls != null) {
            refusal = Replies.TLS_ALREADY_ACTIVE;
        } else if (context.listener().tls().mode() != InboundTlsMode.STARTTLS) {
            refusal = Replies.TLS_NOT_AVAILABLE;
        } else if (command.hasArgument()) {
            refusal = Replies.SYNTAX_ERROR_IN_PARAMETERS;
        } else if (transaction != null) {
            refusal = Replies.STARTTLS_IN_TRANSACTION;
        }
        if (refusal != null) {
            reply(refusal);
            decoder.resumeCommands();
            continueAfter("STARTTLS");
            return;
        }
        // Order matters (RFC 3207 5, CVE-2011-0411): drop what was pipelined after STARTTLS,
        // put TLS in front, and only then send the 220 (SslHandler lets that one write through).
        decoder.startTls();
        SslHandler ssl = new SslHandler(context.tls().newEngine(ctx.alloc()), true);
        ctx.pipeline().addBefore(HandlerNames.DECODER, HandlerNames.TLS, ssl);
        watchHandshake(ssl);
        reply(Replies.READY_TO_START_TLS);
        phase = Phase.CONNECTED; // RFC 3207 4.2: forget everything learnt before TLS
        heloName = null;
        esmtp = false;
        authenticated = false;
        requestNext();
    }

    private void watchHandshake(SslHandler ssl) {
        long started = System.nanoTime();
        ssl.handshakeFuture().addListener(f -> {
            long elapsed = System.nanoTime() - started;
            if (f.isSuccess()) {
                tls = ssl.engine().getSession();
                context.metrics().tlsHandshake(ProxyMetrics.Side.INBOUND, tls.getProtocol(), tls.getCipherSuite(), elapsed);
                context.metrics().inboundHandshake(context.name(), tls.getProtocol(), SessionResumption.resumed(ssl.engine()));
            } else {
                context.metrics().tlsHandshake(ProxyMetrics.Side.INBOUND, null, false, elapsed);
                context.metrics().tlsHandshakeFailed(ProxyMetrics.Side.INBOUND, TlsFailures.label(f.cause()));
                endReason = "tls_failed";
                LOG.info("session={} client={} TLS handshake failed: {}", sessionId, clientAddress(),
                        TlsFailures.reason(f.cause()));
            }
        });
    }

    // ---- AUTH ---------------------------------------------------------------------------------

    private void auth(CommandLine command) {
        InboundAuth config = context.listener().auth();
        if (config != null && context.authThrottle().isBlocked(client.getAddress())) {
            refuseSession("auth_throttled", Replies.TOO_MANY_AUTH_FAILURES);
            LOG.info("session={} client={} AUTH refused: too many failures from this address", sessionId, clientAddress());
            return;
        }
        SmtpReply refusal = null;
        if (config == null) {
            refusal = Replies.AUTH_NOT_AVAILABLE;
        } else if (phase != Phase.GREETED || !esmtp) {
            refusal = Replies.SEND_HELO_FIRST;
        } else if (authenticated) {
            refusal = Replies.AUTH_ALREADY;
        } else if (transaction != null) {
            refusal = Replies.STARTTLS_IN_TRANSACTION;
        } else if (tls == null && !config.allowPlaintext()) {
            refusal = Replies.AUTH_NEEDS_TLS;
        }
        if (refusal != null) {
            reply(refusal);
            decoder.resumeCommands();
            return;
        }
        String[] words = command.argument().split(" +");
        String mechanism = words[0].toUpperCase(java.util.Locale.ROOT);
        String initial = words.length > 1 ? words[1] : null;
        switch (mechanism) {
            case "PLAIN" -> {
                if (initial == null) {
                    challenge(AuthStep.PLAIN_RESPONSE, "");
                } else {
                    checkPlain(initial);
                }
            }
            case "LOGIN" -> {
                if (initial == null) {
                    challenge(AuthStep.LOGIN_USER, "VXNlcm5hbWU6"); // "Username:"
                } else {
                    String user = decodeBase64(initial);
                    if (user == null) {
                        endAuth(Replies.AUTH_BAD_ENCODING);
                    } else {
                        loginUser = user;
                        challenge(AuthStep.LOGIN_PASSWORD, "UGFzc3dvcmQ6"); // "Password:"
                    }
                }
            }
            default -> endAuth(Replies.AUTH_UNKNOWN_MECHANISM);
        }
    }

    private void challenge(AuthStep next, String text) {
        authStep = next;
        reply(SmtpReply.of(334, text));
        decoder.expectSaslResponse();
    }

    private void onSaslResponse(String line) {
        AuthStep step = authStep;
        authStep = AuthStep.NONE;
        if (line.equals("*")) {
            endAuth(Replies.AUTH_CANCELLED);
        } else if (step == AuthStep.PLAIN_RESPONSE) {
            checkPlain(line);
        } else if (step == AuthStep.LOGIN_USER) {
            String user = decodeBase64(line);
            if (user == null) {
                endAuth(Replies.AUTH_BAD_ENCODING);
            } else {
                loginUser = user;
                challenge(AuthStep.LOGIN_PASSWORD, "UGFzc3dvcmQ6");
            }
        } else if (step == AuthStep.LOGIN_PASSWORD) {
            String password = decodeBase64(line);
            if (password == null) {
                endAuth(Replies.AUTH_BAD_ENCODING);
            } else {
                verify(loginUser, password);
            }
        } else {
            endAuth(Replies.UNKNOWN_COMMAND);
        }
        continueAfter("AUTH");
    }

    /** RFC 4616: [authzid] NUL authcid NUL passwd; an authzid other than the user is refused. */
    private void checkPlain(String base64) {
        String decoded = decodeBase64(base64);
        String[] fields = decoded == null ? new String[0] : decoded.split("\0", -1);
        if (fields.length != 3 || (!fields[0].isEmpty() && !fields[0].equals(fields[1]))) {
            endAuth(decoded == null ? Replies.AUTH_BAD_ENCODING : Replies.AUTH_FAILED);
            return;
        }
        verify(fields[1], fields[2]);
    }

    /** Password hashing is slow by design: it runs on a worker, and the answer hops back here. */
    private void verify(String user, String password) {
        Promise<SmtpReply> reply = ctx.executor().newPromise();
        reply(reply);
        context.blockingWork().execute(() -> {
            boolean ok = context.users().authenticate(user, password);
            ctx.executor().execute(() -> {
                context.metrics().authAttempt(ok);
                if (ok) {
                    authenticated = true;
                    reply.setSuccess(Replies.AUTH_SUCCEEDED);
                } else {
                    context.authThrottle().failed(client.getAddress());
                    LOG.info("session={} client={} AUTH failed", sessionId, clientAddress());
                    ctx.executor().schedule(() -> reply.setSuccess(Replies.AUTH_FAILED),
                            AUTH_FAILURE_DELAY_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
                }
            });
        });
        decoder.resumeCommands();
    }

    private void endAuth(SmtpReply reply) {
        authStep = AuthStep.NONE;
        reply(reply);
        decoder.resumeCommands();
    }

    private static String decodeBase64(String text) {
        try {
            return new String(java.util.Base64.getDecoder().decode(text.strip()), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    // ---- message data -------------------------------------------------------------------------

    private void onContent(SmtpContent content) {
        MailTransaction txn = transaction;
        if (content instanceof LastSmtpContent last) {
            onEndOfData(txn, last);
            return;
        }
        if (txn == null || txn.abortReply != null) {
            content.release();
            requestNext();
            return;
        }
        UpstreamSession session = txn.session();
        if (!session.isUsable()) {
            content.release();
            abortData(txn, Replies.UPSTREAM_LOST);
            requestNext();
            return;
        }
        session.writeContent(content);
        if (session.isWritable()) {
            requestNext();
        } else {
            waitingForUpstream = true; // resumed by onUpstreamWritable: the client waits in its TCP window
        }
    }

    private void onUpstreamWritable() {
        if (!waitingForUpstream) {
            return;
        }
        waitingForUpstream = false;
        MailTransaction txn = transaction;
        if (txn != null && txn.inData && txn.abortReply == null && !txn.session().isUsable()) {
            abortData(txn, Replies.UPSTREAM_LOST);
        }
        requestNext();
    }

    private void onEndOfData(MailTransaction txn, LastSmtpContent last) {
        long size = decoder.dataSize();
        context.metrics().messageBytes(size);
        if (txn == null) {
            last.release();
            continueAfter("DATA");
            return;
        }
        txn.inData = false;
        txn.dataEndNanos = System.nanoTime();
        if (txn.abortReply != null) {
            last.release();
            endTransaction(txn, txn.abortReply, txn.session(), size);
            reply(txn.abortReply);
            continueAfter("DATA");
            return;
        }
        UpstreamSession session = txn.session();
        Promise<SmtpReply> reply = ctx.executor().newPromise();
        reply(reply);
        session.endData(last).addListener(r -> {
            SmtpReply upstreamReply = expect(r, txn, 2);
            context.metrics().relayed(System.nanoTime() - txn.dataEndNanos);
            endTransaction(txn, upstreamReply, session, size);
            reply.setSuccess(upstreamReply);
        });
        continueAfter("DATA");
    }

    private void onSignal(DecoderSignal signal) {
        switch (signal) {
            case LINE_TOO_LONG, INVALID_CHARACTERS -> {
                authStep = AuthStep.NONE; // an over-long AUTH response ends the exchange
                reply(signal == DecoderSignal.LINE_TOO_LONG ? Replies.LINE_TOO_LONG : Replies.CONTROL_CHARACTERS);
                continueAfter("NOOP");
            }
            case LINE_TIMEOUT -> {
                refuseSession("line_timeout", Replies.LINE_TIMEOUT);
                LOG.info("session={} client={} command line not completed within {}, closing", sessionId, clientAddress(),
                        Durations.format(context.limits().idleTimeout()));
            }
            case BARE_NEWLINE -> {
                abortData(transaction, Replies.BARE_NEWLINE);
                requestNext();
            }
            case MESSAGE_TOO_LARGE -> {
                abortData(transaction, Replies.MESSAGE_TOO_BIG);
                requestNext();
            }
            default -> throw new IllegalStateException(signal.name());
        }
    }

    /**
     * The proxy ends a transaction during DATA: the upstream connection is closed without an
     * end-of-data, so nothing of this message is delivered; the client's remaining data is read
     * and discarded and it gets {@code reply} after its terminator (a delayed reject).
     */
    private void abortData(MailTransaction txn, SmtpReply reply) {
        if (txn == null || txn.abortReply != null) {
            return;
        }
        txn.abortReply = reply;
        decoder.discardData();
        UpstreamSession session = txn.session();
        txn.upstream.abandon("message aborted by the proxy: " + reply.oneLine());
        if (upstream == session) {
            upstream = null;
        }
    }

    // ---- transactions and the upstream --------------------------------------------------------

    /**
     * The reply an upstream command got, or the 4xx for a lost connection. A success class other
     * than the expected one means the upstream and we disagree about where we are: not trusted.
     */
    private SmtpReply expect(Future<?> result, MailTransaction txn, int expectedClass) {
        if (!result.isSuccess()) {
            return UpstreamFailure.of(result.cause()).toReply();
        }
        SmtpReply reply = (SmtpReply) result.getNow();
        if (reply.codeClass() <= 3 && reply.codeClass() != expectedClass) {
            UpstreamSession session = txn.session();
            if (session != null) {
                session.abort("unexpected upstream reply " + reply.oneLine());
            }
            return SmtpReply.of(451, "4.5.0 Unexpected reply from upstream (" + reply.oneLine() + "); try again later");
        }
        return reply;
    }

    /**
     * The upstream side of a new transaction: on this client's session of its previous one
     * (behind an RSET if that one did not end cleanly), else on one from the pool.
     */
    private UpstreamTransaction upstreamFor() {
        EventLoop loop = ctx.channel().eventLoop();
        UpstreamSession current = upstream;
        Future<UpstreamLease> lease;
        if (current != null && current.isUsable()) {
            Future<SmtpReply> probe = upstreamNeedsReset ? current.send(SmtpRequests.rset()) : CLEAN_SESSION;
            lease = loop.newSucceededFuture(new UpstreamLease(current, probe));
        } else {
            upstream = null;
            lease = context.upstream().lease(loop);
        }
        upstreamNeedsReset = false;
        UpstreamTransaction envelope = new UpstreamTransaction(loop, context.upstream(), lease);
        envelope.proven().addListener(f -> {
            if (!f.isSuccess()) {
                return;
            }
            if (phase == Phase.CLOSING) {
                context.upstream().release(envelope.session(), loop); // the probe clears what we sent
            } else {
                upstream = envelope.session(); // kept for this client's next transaction
            }
        });
        return envelope;
    }

    /** RSET, EHLO, QUIT or a closed connection in the middle of a transaction. */
    private void abandonTransaction() {
        MailTransaction txn = transaction;
        if (txn == null) {
            return;
        }
        transaction = null;
        if (txn.inData) {
            abortData(txn, Replies.UPSTREAM_LOST);
        } else if (txn.session() == null) {
            // Still waiting for a session or its probe: drop that one, the next MAIL starts afresh.
            txn.upstream.abandon("transaction reset before the upstream session was ready");
        } else {
            upstreamNeedsReset = true;
        }
    }

    private void endTransaction(MailTransaction txn, SmtpReply finalReply, UpstreamSession session) {
        endTransaction(txn, finalReply, session, 0);
    }

    private void endTransaction(MailTransaction txn, SmtpReply finalReply, UpstreamSession session, long size) {
        if (transaction == txn) {
            transaction = null;
        }
        countTransaction(txn.sender.address(), txn.recipients, txn.accepted, size, finalReply, txn.startedNanos, session,
                txn.reason(finalReply));
    }

    /**
     * Counts a transaction once, by the class of the reply that ended it, with its log line.
     *
     * @param from    null when a MAIL was refused before its address could be read
     * @param session the upstream session it used, or null
     * @param reason  the Exchange Online reason of the reply (UpstreamReplyReason), for the log
     */
    private void countTransaction(String from, int rcpts, int accepted, long size, SmtpReply finalReply,
                                  long startedNanos, UpstreamSession session, String reason) {
        MessageOutcome outcome = MessageOutcome.ofReplyCode(finalReply.code());
        context.metrics().messageCompleted(outcome);
        transactionsCounted++;
        context.clients().transactionEnded(client.getAddress().getHostAddress(), context.name(), inTlsProtocol(),
                inTlsCipher(), outcome);
        TransactionLog.log(new TransactionLog.Entry(sessionId, clientAddress(), context.name(),
                inTlsProtocol(), inTlsCipher(),
                session == null ? "none" : session.tlsProtocol(), session == null ? "none" : session.tlsCipher(),
                from, rcpts, accepted, size, finalReply.oneLine(),
                (System.nanoTime() - startedNanos) / 1_000_000, outcome.label(), reason));
    }

    private String inTlsProtocol() {
        return tls == null ? "none" : tls.getProtocol();
    }

    private String inTlsCipher() {
        return tls == null ? "none" : tls.getCipherSuite();
    }

    // ---- connection events --------------------------------------------------------------------

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent && awaitingClient && replies.isEmpty() && phase != Phase.CLOSING) {
            // Only while we are waiting for the client: a slow upstream has its own timeouts.
            abandonTransaction();
            endReason = "idle_timeout";
            phase = Phase.CLOSING;
            ctx.writeAndFlush(Replies.IDLE_TIMEOUT).addListener(ChannelFutureListener.CLOSE);
            LOG.info("session={} client={} idle timeout", sessionId, clientAddress());
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        phase = Phase.CLOSING;
        MailTransaction txn = transaction;
        transaction = null;
        // Mid-transaction the upstream must not see an end-of-data: close it instead. Nothing is
        // lost, the client never got its 250 and will retry.
        if (txn != null) {
            txn.upstream.abandon("client disconnected in the middle of a transaction");
        }
        if (upstream != null) {
            // Between transactions the session is still good: keep it warm for the next client.
            context.upstream().release(upstream, ctx.channel().eventLoop());
            upstream = null;
        }
        if (client != null) {
            context.clients().sessionEnded(client.getAddress().getHostAddress(), context.name(), inTlsProtocol(), inTlsCipher());
            if (transactionsCounted == 0) {
                TransactionLog.sessionWithoutTransaction(sessionId, clientAddress(), context.name(), inTlsProtocol(), endReason);
            }
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Expected trouble from the network or a client's TLS: one line. Anything else: the stack.
        if (cause instanceof IOException || cause instanceof SSLException || cause.getCause() instanceof SSLException) {
            LOG.info("session={} client={} connection error: {}", sessionId, clientAddress(), TlsFailures.reason(cause));
            LOG.debug("session={} connection error detail", sessionId, cause);
        } else {
            LOG.warn("session={} client={} unexpected error, closing", sessionId, clientAddress(), cause);
        }
        if (!"tls_failed".equals(endReason)) {
            endReason = "error";
        }
        phase = Phase.CLOSING;
        ctx.close();
    }

    private String clientAddress() {
        return client == null ? "unknown" : client.getAddress().getHostAddress() + ":" + client.getPort();
    }

    private static String newSessionId() {
        return Long.toString(ThreadLocalRandom.current().nextLong() >>> 4, 36).toUpperCase(java.util.Locale.ROOT);
    }
}
