package org.smtptlsproxy.inbound;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.smtptlsproxy.auth.PasswordHashes;
import org.smtptlsproxy.auth.UserDirectory;
import org.smtptlsproxy.config.BareNewlines;
import org.smtptlsproxy.config.DataSize;
import org.smtptlsproxy.config.HostPort;
import org.smtptlsproxy.config.InboundAuth;
import org.smtptlsproxy.config.InboundTls;
import org.smtptlsproxy.config.InboundTlsMode;
import org.smtptlsproxy.config.Limits;
import org.smtptlsproxy.config.ListenerConfig;
import org.smtptlsproxy.delivery.Delivery;
import org.smtptlsproxy.delivery.DeliverySession;
import org.smtptlsproxy.delivery.DeliveryTransaction;
import org.smtptlsproxy.delivery.TransactionFacts;
import org.smtptlsproxy.metrics.ClientRegistry;
import org.smtptlsproxy.metrics.ProxyMetrics;
import org.smtptlsproxy.smtp.CommandLine;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * The inbound session without a channel: commands in, replies out, and what reached the delivery
 * seam. The delivery here is an in-memory one that records its calls and answers when the test
 * says, since that seam is what is under test; everything else (config, metrics, users) is real.
 */
@Timeout(30)
class SmtpSessionTest {

    private static final int MAX_RECIPIENTS = 3;

    private final DefaultEventLoop loop = new DefaultEventLoop();
    private final RecordingOutput out = new RecordingOutput();
    private final RecordingDelivery delivery = new RecordingDelivery();
    private SmtpSession session;

    @AfterEach
    void stopLoop() {
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    // ---- the state machine's refusals ---------------------------------------------------------

    @Test
    void envelopeCommandsOutOfOrderAreRefusedAndNeverReachTheDelivery() {
        start(plainListener(null, false));
        send("MAIL FROM:<a@example.com>", "EHLO client.example", "RCPT TO:<b@example.com>", "DATA",
                "MAIL FROM:<a@example.com>", "DATA", "MAIL FROM:<c@example.com>");
        assertEquals(List.of("220", "503 5.5.1 Send HELO/EHLO first", "250", "503 5.5.1 Need MAIL command",
                "503 5.5.1 Need MAIL command", "250 2.1.0 sender ok", "503 5.5.1 Need RCPT command",
                "503 5.5.1 Nested MAIL command"), out.replies());
        assertEquals(List.of("begin", "mail a@example.com"), delivery.calls);
    }

    @Test
    void recipientsBeyondTheLimitAreRefusedWithoutReachingTheDelivery() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>");
        for (int i = 0; i <= MAX_RECIPIENTS; i++) {
            send("RCPT TO:<r" + i + "@example.com>");
        }
        assertEquals("452 4.5.3 Too many recipients", out.last());
        assertEquals(MAX_RECIPIENTS, delivery.calls.stream().filter(c -> c.startsWith("rcpt")).count());
    }

    @Test
    void aListenerThatRequiresTlsRefusesMailUntilStartTlsThenForgetsTheGreeting() {
        start(listener(InboundTlsMode.STARTTLS, true, null));
        send("EHLO client.example");
        assertTrue(out.lastReply.lines().contains("STARTTLS"));
        send("MAIL FROM:<a@example.com>");
        assertEquals("530 5.7.0 Must issue a STARTTLS command first", out.last());

        send("STARTTLS");
        assertEquals(List.of("startTls"), out.modes.stream().filter(m -> m.equals("startTls")).toList());
        assertEquals("220 2.0.0 Ready to start TLS", out.last());
        on(() -> session.tlsEstablished("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        send("MAIL FROM:<a@example.com>");
        assertEquals("503 5.5.1 Send HELO/EHLO first", out.last(), "RFC 3207 4.2: the EHLO before TLS no longer counts");
        send("EHLO client.example", "MAIL FROM:<a@example.com>");
        assertFalse(out.lastReplyBefore(1).lines().contains("STARTTLS"));
        assertEquals("250 2.1.0 sender ok", out.last());
        assertEquals("TLSv1.2", delivery.facts.tlsProtocol());
        assertFalse(delivery.facts.authenticated());
    }

    @Test
    void authRequiredRefusesMailUntilAuthPlainSucceeds() {
        start(plainListener(users(), true));
        send("EHLO client.example", "MAIL FROM:<a@example.com>");
        assertEquals("530 5.7.0 Authentication required", out.last());
        send("AUTH PLAIN " + base64("\0alice\0secret"));
        awaitReplies(4);
        assertEquals("235 2.7.0 Authentication successful", out.last());
        send("MAIL FROM:<a@example.com>");
        assertEquals("250 2.1.0 sender ok", out.last());
        assertTrue(delivery.facts.authenticated());
        assertEquals("client.example", delivery.facts.heloName());
    }

    @Test
    void authLoginChallengesForUserAndPasswordAndAFailureIsSlowAndCounted() {
        start(plainListener(users(), false));
        send("EHLO client.example", "AUTH LOGIN");
        assertEquals("334 VXNlcm5hbWU6", out.last());
        assertEquals("expectSasl", out.modes.get(out.modes.size() - 1));
        response(base64("alice"));
        assertEquals("334 UGFzc3dvcmQ6", out.last());
        long sent = System.nanoTime();
        response(base64("wrong"));
        awaitReplies(5);
        assertEquals("535 5.7.8 Authentication credentials invalid", out.last());
        assertTrue(System.nanoTime() - sent >= TimeUnit.MILLISECONDS.toNanos(900), "a failed AUTH is answered late");
        assertEquals(1.0, metrics.registry().get("smtp.proxy.auth").tag("outcome", "failure").counter().count());

        send("AUTH LOGIN " + base64("alice"));
        response(base64("secret"));
        awaitReplies(7);
        assertEquals("235 2.7.0 Authentication successful", out.last());
        send("AUTH PLAIN " + base64("\0alice\0secret"));
        assertEquals("503 5.5.1 Already authenticated", out.last());
    }

    @Test
    void authCancelledWithAStar() {
        start(plainListener(users(), false));
        send("EHLO client.example", "AUTH PLAIN");
        assertEquals("334 ", out.last());
        response("*");
        assertEquals("501 5.7.0 Authentication cancelled", out.last());
        assertEquals("resumeCommands", out.modes.get(out.modes.size() - 1));
    }

    // ---- replies in order, transactions through the seam ---------------------------------------

    @Test
    void pipelinedEnvelopeGetsItsRepliesInCommandOrderWhateverOrderTheDeliveryAnswersIn() {
        start(plainListener(null, false));
        send("EHLO client.example");
        delivery.manual = true;
        send("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "RCPT TO:<c@example.com>", "DATA");
        assertEquals(List.of("begin", "mail a@example.com", "rcpt b@example.com", "rcpt c@example.com", "data"),
                delivery.calls, "DATA joins the envelope: all four go out before any reply is in");
        assertEquals(2, out.replies().size());

        delivery.answer(3, SmtpReply.of(550, "5.1.1 c unknown"));
        delivery.answer(2, SmtpReply.of(250, "2.1.5 b ok"));
        assertEquals(2, out.replies().size(), "nothing overtakes MAIL's reply");
        delivery.answer(1, SmtpReply.of(250, "2.1.0 a ok"));
        assertEquals(List.of("250 2.1.0 a ok", "250 2.1.5 b ok", "550 5.1.1 c unknown"), out.replies().subList(2, 5));
        assertFalse(out.modes.contains("startData"));

        delivery.answer(4, SmtpReply.of(354, "go ahead"));
        assertEquals("354 go ahead", out.last());
        assertTrue(out.modes.contains("startData"));
    }

    @Test
    void aMessageStreamsThroughAfterTheReceivedHeaderAndGetsTheDeliveryFinalReply() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA");
        content("Subject: hi\r\n\r\n");
        content("body\r\n");
        endOfData("..dot\r\n");
        assertEquals("250 2.0.0 queued as FAKE", out.last());
        String received = delivery.content.toString();
        assertTrue(received.startsWith("Received: from client.example ([192.0.2.7])"), received);
        assertTrue(received.endsWith("\r\nSubject: hi\r\n\r\nbody\r\n..dot\r\n"), "content as the client sent it");
        assertTrue(delivery.calls.contains("endOfData"));
        assertEquals(1.0, metrics.registry().get("smtp.proxy.messages").tag("outcome", "relayed").counter().count());
    }

    @Test
    void dataWithNoRecipientAcceptedIsRefusedByTheSessionAndTheDeliveryAborted() {
        start(plainListener(null, false));
        delivery.refuseRecipients = true;
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA");
        assertEquals(List.of("550 5.1.1 refused", "554 5.5.1 No valid recipients"), out.replies().subList(3, 5));
        assertTrue(delivery.calls.get(delivery.calls.size() - 1).startsWith("abort"), delivery.calls.toString());
        assertFalse(out.modes.contains("startData"));
    }

    @Test
    void rsetInTheMiddleOfATransactionResetsTheDelivery() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "RSET",
                "RCPT TO:<c@example.com>", "MAIL FROM:<d@example.com>");
        assertEquals(List.of("250 2.0.0 Flushed", "503 5.5.1 Need MAIL command", "250 2.1.0 sender ok"),
                out.replies().subList(4, 7));
        assertEquals(List.of("begin", "mail a@example.com", "rcpt b@example.com", "reset", "begin", "mail d@example.com"),
                delivery.calls);
    }

    @Test
    void aBareNewlineAbortsTheDeliveryAndTheRejectComesAfterTheTerminator() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA");
        content("Subject: smuggle\r\n\r\n");
        int repliesBefore = out.replies().size();
        on(() -> session.signal(DecoderSignal.BARE_NEWLINE));
        assertTrue(out.modes.contains("discardData"));
        assertEquals(repliesBefore, out.replies().size(), "no reply before the client's terminator");
        assertTrue(delivery.calls.contains("abort message aborted by the proxy: 550 5.6.11 bare CR or LF in message data"),
                delivery.calls.toString());
        ByteBuf late = Unpooled.copiedBuffer("more\r\n", StandardCharsets.US_ASCII);
        on(() -> session.content(late));
        assertEquals(0, late.refCnt(), "content after the abort is dropped, not delivered");
        endOfData("");
        assertEquals("550 5.6.11 bare CR or LF in message data", out.last());
        assertFalse(delivery.calls.contains("endOfData"));
        assertFalse(delivery.content.toString().contains("more"));
    }

    @Test
    void aDeliveryThatFailsDuringDataGetsItsReplyGivenAfterTheTerminator() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA");
        delivery.failure = SmtpReply.of(452, "4.3.1 Insufficient system storage");
        content("lost\r\n");
        assertEquals("354 go ahead", out.last());
        endOfData("");
        assertEquals("452 4.3.1 Insufficient system storage", out.last());
        assertTrue(delivery.calls.contains("abort message aborted by the proxy: 452 4.3.1 Insufficient system storage"));
        assertFalse(delivery.calls.contains("endOfData"));
    }

    @Test
    void aDeliveryThatIsNotWritableStopsReadingUntilItIsAgain() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA");
        delivery.writable = false;
        int reads = out.reads;
        content("chunk 1\r\n");
        assertEquals(reads, out.reads, "no read while the delivery is full");
        delivery.writable = true;
        on(delivery.writableListener::run);
        assertEquals(reads + 1, out.reads);
    }

    @Test
    void aClientThatDisconnectsMidTransactionAbortsTheDeliveryAndClosesItsSession() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA");
        content("half a message\r\n");
        on(session::closed);
        assertEquals(List.of("abort client disconnected in the middle of a transaction", "close"),
                delivery.calls.subList(delivery.calls.size() - 2, delivery.calls.size()));
    }

    @Test
    void quitInATransactionResetsItAndCloses() {
        start(plainListener(null, false));
        send("EHLO client.example", "MAIL FROM:<a@example.com>", "QUIT");
        assertTrue(out.closed);
        assertEquals("221 2.0.0 Bye", out.last());
        assertTrue(delivery.calls.contains("reset"));
        assertTrue(session.isClosing());
    }

    // ---- harness --------------------------------------------------------------------------------

    private ProxyMetrics metrics;

    private void start(ListenerConfig listener) {
        metrics = new ProxyMetrics(new SimpleMeterRegistry());
        Limits limits = new Limits(new DataSize(10_000_000), MAX_RECIPIENTS, 100, 10, Duration.ofMinutes(5),
                BareNewlines.REJECT, 5, Duration.ofMinutes(5));
        UserDirectory users = listener.auth() == null ? null : new UserDirectory(listener.auth().users());
        ListenerContext context = new ListenerContext(listener, null, "proxy.example", limits, true, null, metrics,
                null, new AuthThrottle(5, Duration.ofMinutes(5)), new ClientRegistry(), new Shutdown(), users,
                Runnable::run, delivery);
        on(() -> {
            session = new SmtpSession(context, loop, context.delivery().open(loop), out);
            session.start(new InetSocketAddress(InetAddress.getByAddress(new byte[] {(byte) 192, 0, 2, 7}), 40000));
            return null;
        });
    }

    private static ListenerConfig plainListener(Map<String, String> users, boolean authRequired) {
        return listener(InboundTlsMode.NONE, false, users == null ? null : new InboundAuth(authRequired, true, null, users));
    }

    private static ListenerConfig listener(InboundTlsMode tls, boolean requireTls, InboundAuth auth) {
        return new ListenerConfig("test", new HostPort("127.0.0.1", 0), new InboundTls(tls, null, List.of(), List.of()),
                requireTls, false, List.of(), List.of(), List.of(), auth);
    }

    private static Map<String, String> users() {
        return Map.of("alice", PasswordHashes.pbkdf2("secret", 1000));
    }

    private static String base64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private void send(String... lines) {
        for (String line : lines) {
            on(() -> session.command(CommandLine.parse(line)));
        }
    }

    private void response(String line) {
        on(() -> session.saslResponse(line));
    }

    private void content(String text) {
        on(() -> session.content(Unpooled.copiedBuffer(text, StandardCharsets.UTF_8)));
    }

    private void endOfData(String lastChunk) {
        on(() -> session.endOfData(Unpooled.copiedBuffer(lastChunk, StandardCharsets.UTF_8), 0));
    }

    private void on(Runnable action) {
        on(() -> {
            action.run();
            return null;
        });
    }

    private <T> T on(Callable<T> action) {
        try {
            return loop.submit(action).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Waits, bounded, for replies the session delays (AUTH failures, password checks). */
    private void awaitReplies(int count) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (on(() -> out.replies().size()) < count && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The connection as the session sees it: what it wrote, which modes it asked for. */
    private static final class RecordingOutput implements SessionOutput {
        private final List<SmtpReply> written = new ArrayList<>();
        final List<String> modes = new ArrayList<>();
        SmtpReply lastReply;
        int reads;
        boolean closed;

        List<String> replies() {
            return written.stream().map(r -> r.code() == 220 && r.lines().get(0).contains("ESMTP") ? "220"
                    : r.code() == 250 && r.lines().size() > 1 ? "250" : r.oneLine()).toList();
        }

        String last() {
            List<String> all = replies();
            return all.get(all.size() - 1);
        }

        SmtpReply lastReplyBefore(int back) {
            return written.get(written.size() - 1 - back);
        }

        @Override
        public void write(SmtpReply reply) {
            written.add(reply);
            lastReply = reply;
        }

        @Override
        public void flush() {
        }

        @Override
        public void writeAndClose(SmtpReply reply) {
            write(reply);
            closed = true;
        }

        @Override
        public void read() {
            reads++;
        }

        @Override
        public void resumeCommands() {
            modes.add("resumeCommands");
        }

        @Override
        public void expectSaslResponse() {
            modes.add("expectSasl");
        }

        @Override
        public void startData() {
            modes.add("startData");
        }

        @Override
        public void discardData() {
            modes.add("discardData");
        }

        @Override
        public void startTls() {
            modes.add("startTls");
        }
    }

    /**
     * A delivery that records every call. It answers at once (250, 354, "queued as FAKE"), or,
     * when {@code manual}, keeps each reply for the test to give by the number of the call.
     */
    private static final class RecordingDelivery implements Delivery, DeliverySession, DeliveryTransaction {
        final List<String> calls = new ArrayList<>();
        final StringBuilder content = new StringBuilder();
        private final List<Promise<SmtpReply>> held = new ArrayList<>();
        private EventLoop loop;
        TransactionFacts facts;
        boolean manual;
        boolean refuseRecipients;
        boolean writable = true;
        SmtpReply failure;
        Runnable writableListener;

        /** Gives the reply to the {@code call}-th held command (1: the first one kept). */
        void answer(int call, SmtpReply reply) {
            Promise<SmtpReply> promise = held.get(call - 1);
            loop.submit(() -> promise.setSuccess(reply)).syncUninterruptibly();
        }

        private Future<SmtpReply> reply(String call, SmtpReply reply) {
            calls.add(call);
            Promise<SmtpReply> promise = loop.newPromise();
            if (manual) {
                held.add(promise);
            } else {
                promise.setSuccess(reply);
            }
            return promise;
        }

        @Override
        public DeliverySession open(EventLoop eventLoop) {
            this.loop = eventLoop;
            return this;
        }

        @Override
        public DeliveryTransaction begin(TransactionFacts transactionFacts) {
            calls.add("begin");
            facts = transactionFacts;
            return this;
        }

        @Override
        public void close() {
            calls.add("close");
        }

        @Override
        public Future<SmtpReply> mail(MailPath sender) {
            return reply("mail " + sender.address(), SmtpReply.of(250, "2.1.0 sender ok"));
        }

        @Override
        public Future<SmtpReply> rcpt(MailPath recipient) {
            return reply("rcpt " + recipient.address(), refuseRecipients ? SmtpReply.of(550, "5.1.1 refused")
                    : SmtpReply.of(250, "2.1.5 recipient ok"));
        }

        @Override
        public Future<SmtpReply> data() {
            return reply("data", SmtpReply.of(354, "go ahead"));
        }

        @Override
        public void content(ByteBuf chunk) {
            content.append(chunk.toString(StandardCharsets.UTF_8));
            chunk.release();
        }

        @Override
        public boolean isWritable() {
            return writable;
        }

        @Override
        public void onWritable(Runnable listener) {
            writableListener = listener;
        }

        @Override
        public SmtpReply failure() {
            return failure;
        }

        @Override
        public Future<SmtpReply> endOfData(ByteBuf last) {
            content.append(last.toString(StandardCharsets.UTF_8));
            last.release();
            return reply("endOfData", SmtpReply.of(250, "2.0.0 queued as FAKE"));
        }

        @Override
        public void abort(String reason) {
            calls.add("abort " + reason);
        }

        @Override
        public void reset() {
            calls.add("reset");
        }

        @Override
        public String tlsProtocol() {
            return "none";
        }

        @Override
        public String tlsCipher() {
            return "none";
        }
    }
}
