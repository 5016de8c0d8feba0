package org.smtptlsproxy.inbound;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetSocketAddress;
import java.time.ZonedDateTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.Durations;
import org.smtptlsproxy.config.InboundAuth;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.delivery.DeliverySession;
import org.smtptlsproxy.delivery.DeliveryTransaction;
import org.smtptlsproxy.delivery.TransactionFacts;
import org.smtptlsproxy.metrics.ProxyMetrics.MessageOutcome;
import org.smtptlsproxy.outbound.UpstreamFailure;
import org.smtptlsproxy.relay.ReceivedHeader;
import org.smtptlsproxy.relay.TransactionLog;
import org.smtptlsproxy.smtp.CommandLine;
import org.smtptlsproxy.smtp.MailParameters;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.Replies;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;

/**
 * The server side of one SMTP session, without a channel: parsed commands, data chunks and SASL
 * responses come in, replies go out through a {@link SessionOutput}, and each transaction's
 * envelope and content go to a {@link DeliverySession}, which does not show here whether it
 * relays or stores.
 *
 * <p>Commands that can be pipelined (MAIL, RCPT, NOOP...) are acted on at once and their replies
 * queued in order; the others (EHLO, DATA, RSET, STARTTLS, QUIT...) wait until every earlier
 * reply has been written. The client never gets a 250 for its data before the delivery gave one.
 *
 * <p>Everything runs on one executor (the channel's event loop, which the delivery calls back
 * on): no field needs to be volatile.
 */
public final class SmtpSession {

    private static final Logger LOG = LoggerFactory.getLogger(SmtpSession.class);
    /** Pipelined commands in flight before we stop reading more from a client. */
    private static final int MAX_PENDING_REPLIES = 100;
    /** Protocol errors (5xx replies to commands) before a session is cut off as garbage. */
    private static final int MAX_ERRORS = 20;
    private static final int SLOW_AFTER_ERRORS = 5;
    private static final long ERROR_DELAY_MILLIS = 100;

    private enum Phase { CONNECTED, GREETED, CLOSING }

    private final ListenerContext context;
    private final EventExecutor executor;
    private final DeliverySession delivery;
    private final SessionOutput out;
    private final String sessionId = newSessionId();
    private final AuthExchange auth;

    private InetSocketAddress client;
    private Phase phase = Phase.CONNECTED;
    private String heloName;
    private boolean esmtp;
    private String tlsProtocol;
    private String tlsCipher;

    private MailTransaction transaction;

    private final ArrayDeque<Future<SmtpReply>> replies = new ArrayDeque<>();
    private CommandLine held;
    private boolean readWhenDrained;
    private boolean waitingForDelivery;
    private int transactionsCounted;
    private int errors;
    /** Why the session ended, for the log line of a session without transactions. */
    private String endReason = "client_closed";

    public SmtpSession(ListenerContext context, EventExecutor executor, DeliverySession delivery, SessionOutput out) {
        this.context = context;
        this.executor = executor;
        this.delivery = delivery;
        this.out = out;
        this.auth = new AuthExchange(this, context, executor, out);
    }

    public String sessionId() {
        return sessionId;
    }

    public boolean isClosing() {
        return phase == Phase.CLOSING;
    }

    /** The connection is up: the greeting goes out. */
    public void start(InetSocketAddress client) {
        this.client = client;
        reply(Replies.greeting(context.hostname()));
        requestNext();
    }

    private void requestNext() {
        if (phase != Phase.CLOSING) {
            out.read();
        }
    }

    // ---- input --------------------------------------------------------------------------------

    public void command(CommandLine command) {
        if (isSynchronizing(command.verb()) && !replies.isEmpty() && !joinsEnvelope(command.verb())) {
            held = command; // acted on once every earlier reply is out
        } else {
            execute(command);
        }
    }

    /**
     * DATA behind a transaction's MAIL and RCPT runs before their replies are out: it goes to the
     * delivery with them, and the proxy still reads no data before its 354 (see {@link #data}).
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
    void continueAfter(String verb) {
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
    void reply(SmtpReply reply) {
        if (reply.code() >= 500 && reply.code() <= 504 && ++errors > SLOW_AFTER_ERRORS) {
            Promise<SmtpReply> delayed = executor.newPromise();
            executor.schedule(() -> delayed.setSuccess(reply), ERROR_DELAY_MILLIS, TimeUnit.MILLISECONDS);
            reply(delayed);
            return;
        }
        reply(executor.newSucceededFuture(reply));
    }

    void reply(Future<SmtpReply> reply) {
        replies.add(reply);
        reply.addListener(f -> drainReplies());
    }

    private void drainReplies() {
        boolean wrote = false;
        while (!replies.isEmpty() && replies.peekFirst().isDone()) {
            SmtpReply reply = outcome(replies.pollFirst());
            out.write(reply);
            wrote = true;
            if (reply.code() >= 500 && reply.code() <= 504 && errors >= MAX_ERRORS && phase != Phase.CLOSING) {
                endReason = "too_many_errors";
                phase = Phase.CLOSING;
                replies.clear();
                out.writeAndClose(Replies.TOO_MANY_ERRORS);
                return;
            }
        }
        if (wrote) {
            out.flush();
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

    /** A completed reply; a delivery's future that failed all the same counts as a lost upstream. */
    private static SmtpReply outcome(Future<SmtpReply> reply) {
        return reply.isSuccess() ? reply.getNow() : UpstreamFailure.of(reply.cause()).toReply();
    }

    // ---- commands -----------------------------------------------------------------------------

    private void execute(CommandLine command) {
        String verb = command.verb();
        if (context.shutdown().isDraining() && transaction == null) {
            // Between transactions while draining: the sender retries elsewhere or later.
            close("shutdown", Replies.SHUTTING_DOWN);
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
                out.resumeCommands();
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
                abandonTransaction();
                close("quit", Replies.BYE);
                return;
            }
            case "AUTH" -> auth.start(command, phase == Phase.GREETED && esmtp, transaction != null);
            case "BDAT" -> {
                reply(Replies.NOT_IMPLEMENTED);
                out.resumeCommands();
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
    void refuseSession(String reason, SmtpReply reply) {
        abandonTransaction();
        context.metrics().sessionRefused(context.name(), reason);
        replies.clear();
        close(reason, reply);
    }

    private void close(String reason, SmtpReply lastReply) {
        endReason = reason;
        phase = Phase.CLOSING;
        out.writeAndClose(lastReply);
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
        if (auth.offered(isTls())) {
            lines.add("AUTH PLAIN LOGIN");
        }
        reply(new SmtpReply(250, lines));
    }

    private boolean offersStartTls() {
        return context.listener().tls().mode() == InboundTlsMode.STARTTLS && !isTls();
    }

    boolean isTls() {
        return tlsProtocol != null;
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
            countTransaction(sender == null ? null : sender.address(), 0, 0, 0, refusal, false, System.nanoTime(), "none",
                    "none", UpstreamReplyReason.quotedIn(refusal).label());
            return;
        }
        DeliveryTransaction relay = delivery.begin(new TransactionFacts(sessionId, client, heloName, tlsProtocol,
                tlsCipher, auth.isAuthenticated()));
        MailTransaction txn = new MailTransaction(sender, relay);
        transaction = txn;
        Future<SmtpReply> reply = relay.mail(sender);
        reply.addListener(r -> {
            SmtpReply mailReply = outcome(reply);
            if (!mailReply.isPositiveCompletion()) {
                endTransaction(txn, mailReply, 0);
            }
        });
        reply(reply);
    }

    /** Why the proxy itself refuses this MAIL, or null. */
    private SmtpReply mailRefusal(CommandLine command, MailPath sender) {
        if (phase != Phase.GREETED) {
            return Replies.SEND_HELO_FIRST;
        }
        if (context.listener().requireTls() && !isTls()) {
            return Replies.MUST_STARTTLS;
        }
        InboundAuth authConfig = context.listener().auth();
        if (authConfig != null && authConfig.required() && !auth.isAuthenticated()) {
            return Replies.AUTH_REQUIRED;
        }
        if (!command.validUtf8()) {
            return command.argument().toUpperCase(Locale.ROOT).contains(" SMTPUTF8")
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
        Future<SmtpReply> reply = txn.delivery.rcpt(recipient);
        reply.addListener(r -> {
            SmtpReply rcptReply = outcome(reply);
            txn.recipientReply(rcptReply); // for the log's reason=
            if (rcptReply.isPositiveCompletion()) {
                txn.accepted++;
            }
        });
        reply(reply);
    }

    /**
     * DATA goes to the delivery right behind the envelope, before its replies are in (RFC 2920),
     * so a pipelining sender's MAIL, RCPT and DATA cost the upstream one round trip. What the
     * proxy would have said had it waited (no MAIL, no accepted recipient) is decided when the
     * reply comes, and overrides it.
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
            out.resumeCommands();
            continueAfter("DATA");
            return;
        }
        Promise<SmtpReply> reply = executor.newPromise();
        reply(reply);
        // Before the call: on an upstream already lost, the reply is settled (and the queue
        // drained) inside this very call, and reading must then resume.
        readWhenDrained = true;
        Future<SmtpReply> dataReply = txn.delivery.data();
        dataReply.addListener(r -> {
            SmtpReply deliveryReply = outcome(dataReply);
            SmtpReply ownReply = transaction != txn ? Replies.NEED_MAIL
                    : txn.accepted == 0 ? Replies.NO_VALID_RECIPIENTS : null;
            if (ownReply == null && deliveryReply.code() == 354) {
                txn.inData = true;
                txn.delivery.onWritable(this::onDeliveryWritable);
                if (context.receivedHeader()) {
                    txn.delivery.content(Unpooled.wrappedBuffer(receivedHeader(txn)));
                }
                out.startData();
                reply.setSuccess(deliveryReply);
                return;
            }
            if (deliveryReply.code() == 354) {
                // Ready for data of a transaction we refuse: it must not deliver anything.
                txn.delivery.abort("upstream accepted DATA without a MAIL or an accepted recipient");
            }
            if (ownReply == null) {
                endTransaction(txn, deliveryReply, 0);
            }
            out.resumeCommands();
            reply.setSuccess(ownReply != null ? ownReply : deliveryReply);
        });
    }

    private byte[] receivedHeader(MailTransaction txn) {
        return ReceivedHeader.build(heloName, client.getAddress().getHostAddress(), context.hostname(), esmtp,
                txn.sender.parameters().containsKey("SMTPUTF8"), auth.isAuthenticated(), tlsProtocol, tlsCipher,
                sessionId, ZonedDateTime.now());
    }

    private void rset() {
        abandonTransaction();
        reply(Replies.RESET_OK);
    }

    private void startTls(CommandLine command) {
        SmtpReply refusal = null;
        if (isTls()) {
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
            out.resumeCommands();
            continueAfter("STARTTLS");
            return;
        }
        out.startTls();
        reply(Replies.READY_TO_START_TLS);
        phase = Phase.CONNECTED; // RFC 3207 4.2: forget everything learnt before TLS
        heloName = null;
        esmtp = false;
        auth.forget();
        requestNext();
    }

    /** The TLS handshake (implicit, or after STARTTLS) succeeded. */
    public void tlsEstablished(String protocol, String cipher) {
        tlsProtocol = protocol;
        tlsCipher = cipher;
    }

    public void tlsFailed() {
        endReason = "tls_failed";
    }

    public void saslResponse(String line) {
        auth.response(line);
    }

    // ---- message data -------------------------------------------------------------------------

    /** A chunk of message data; ownership passes here. */
    public void content(ByteBuf chunk) {
        MailTransaction txn = transaction;
        if (txn == null || txn.abortReply != null) {
            chunk.release();
            requestNext();
            return;
        }
        SmtpReply failure = txn.delivery.failure();
        if (failure != null) {
            chunk.release();
            abortData(txn, failure);
            requestNext();
            return;
        }
        txn.delivery.content(chunk);
        if (txn.delivery.isWritable()) {
            requestNext();
        } else {
            waitingForDelivery = true; // resumed by onDeliveryWritable: the client waits in its TCP window
        }
    }

    private void onDeliveryWritable() {
        if (!waitingForDelivery) {
            return;
        }
        waitingForDelivery = false;
        MailTransaction txn = transaction;
        if (txn != null && txn.inData && txn.abortReply == null) {
            SmtpReply failure = txn.delivery.failure();
            if (failure != null) {
                abortData(txn, failure);
            }
        }
        requestNext();
    }

    /**
     * The end of the message data, with its last chunk (ownership passes here).
     *
     * @param size octets of the whole message data
     */
    public void endOfData(ByteBuf last, long size) {
        MailTransaction txn = transaction;
        context.metrics().messageBytes(size);
        if (txn == null) {
            last.release();
            continueAfter("DATA");
            return;
        }
        txn.inData = false;
        long dataEnd = System.nanoTime();
        if (txn.abortReply != null) {
            last.release();
            endTransaction(txn, txn.abortReply, size);
            reply(txn.abortReply);
            continueAfter("DATA");
            return;
        }
        Future<SmtpReply> reply = txn.delivery.endOfData(last);
        reply.addListener(r -> {
            context.metrics().relayed(System.nanoTime() - dataEnd);
            endTransaction(txn, outcome(reply), size);
        });
        reply(reply);
        continueAfter("DATA");
    }

    public void signal(DecoderSignal signal) {
        switch (signal) {
            case LINE_TOO_LONG, INVALID_CHARACTERS -> {
                auth.cancel(); // an over-long AUTH response ends the exchange
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
     * The proxy ends a transaction during DATA: the delivery drops it, so nothing of this message
     * is delivered; the client's remaining data is read and discarded and it gets {@code reply}
     * after its terminator (a delayed reject).
     */
    private void abortData(MailTransaction txn, SmtpReply reply) {
        if (txn == null || txn.abortReply != null) {
            return;
        }
        txn.abortReply = reply;
        out.discardData();
        txn.delivery.abort("message aborted by the proxy: " + reply.oneLine());
    }

    // ---- transactions -------------------------------------------------------------------------

    /** RSET, EHLO, QUIT or a refused session in the middle of a transaction. */
    private void abandonTransaction() {
        MailTransaction txn = transaction;
        if (txn == null) {
            return;
        }
        transaction = null;
        if (txn.inData) {
            abortData(txn, Replies.UPSTREAM_LOST);
        } else {
            txn.delivery.reset();
        }
    }

    private void endTransaction(MailTransaction txn, SmtpReply finalReply, long size) {
        if (transaction == txn) {
            transaction = null;
        }
        countTransaction(txn.sender.address(), txn.recipients, txn.accepted, size, finalReply,
                txn.delivery.keepsMessage(), txn.startedNanos, txn.delivery.tlsProtocol(), txn.delivery.tlsCipher(), txn.reason(finalReply));
    }

    /**
     * Counts a transaction once, by the class of the reply that ended it, with its log line.
     *
     * @param from   null when a MAIL was refused before its address could be read
     * @param reason the Exchange Online reason of the reply (UpstreamReplyReason), for the log
     */
    private void countTransaction(String from, int rcpts, int accepted, long size, SmtpReply finalReply, boolean spooled,
                                  long startedNanos, String outTlsProtocol, String outTlsCipher, String reason) {
        MessageOutcome outcome = MessageOutcome.ofReplyCode(finalReply.code());
        if (outcome == MessageOutcome.RELAYED && spooled) {
            outcome = MessageOutcome.SPOOLED;
        }
        context.metrics().messageCompleted(outcome);
        transactionsCounted++;
        context.clients().transactionEnded(client.getAddress().getHostAddress(), context.name(), inTlsProtocol(),
                inTlsCipher(), outcome);
        TransactionLog.log(new TransactionLog.Entry(sessionId, clientAddress(), context.name(),
                inTlsProtocol(), inTlsCipher(), outTlsProtocol, outTlsCipher,
                from, rcpts, accepted, size, finalReply.oneLine(),
                (System.nanoTime() - startedNanos) / 1_000_000, outcome.label(), reason));
    }

    private String inTlsProtocol() {
        return tlsProtocol == null ? "none" : tlsProtocol;
    }

    private String inTlsCipher() {
        return tlsCipher == null ? "none" : tlsCipher;
    }

    // ---- connection events --------------------------------------------------------------------

    /**
     * The client sent nothing for the idle timeout while the session waited for it.
     *
     * @return false when the session was not idle (replies in flight, or closing)
     */
    public boolean idle() {
        if (!replies.isEmpty() || phase == Phase.CLOSING) {
            return false;
        }
        abandonTransaction();
        close("idle_timeout", Replies.IDLE_TIMEOUT);
        LOG.info("session={} client={} idle timeout", sessionId, clientAddress());
        return true;
    }

    /** The connection failed (the handler has logged why); it is being closed. */
    public void failed() {
        if (!"tls_failed".equals(endReason)) {
            endReason = "error";
        }
        phase = Phase.CLOSING;
    }

    /** The connection is closed. */
    public void closed() {
        phase = Phase.CLOSING;
        MailTransaction txn = transaction;
        transaction = null;
        // Mid-transaction the delivery must not complete it: nothing is lost, the client never
        // got its 250 and will retry.
        if (txn != null) {
            txn.delivery.abort("client disconnected in the middle of a transaction");
        }
        delivery.close();
        if (client != null) {
            context.clients().sessionEnded(client.getAddress().getHostAddress(), context.name(), inTlsProtocol(), inTlsCipher());
            if (transactionsCounted == 0) {
                TransactionLog.sessionWithoutTransaction(sessionId, clientAddress(), context.name(), inTlsProtocol(), endReason);
            }
        }
    }

    String clientAddress() {
        return client == null ? "unknown" : client.getAddress().getHostAddress() + ":" + client.getPort();
    }

    InetSocketAddress client() {
        return client;
    }

    private static String newSessionId() {
        return Long.toString(ThreadLocalRandom.current().nextLong() >>> 4, 36).toUpperCase(Locale.ROOT);
    }
}
