package org.smtptlsproxy.spool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.smtptlsproxy.config.BounceMode;
import org.smtptlsproxy.smtp.SmtpReply;

@Timeout(60)
class SpoolSchedulerTest {

    private static final Instant START = Instant.parse("2026-12-06T10:00:00Z");
    private static final SmtpReply OK = SmtpReply.of(250, "2.0.0 OK queued");
    private static final SmtpReply BUSY = SmtpReply.of(451, "4.4.3 Temporary DNS failure");
    private static final SmtpReply THROTTLED = SmtpReply.of(451, "4.7.500 Server busy. Please try again later.");
    private static final SmtpReply UNKNOWN = SmtpReply.of(550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found");

    @TempDir
    Path dir;

    private final MutableClock clock = new MutableClock(START);
    private final ScheduledExecutorService executor = Executors.newSingleThreadScheduledExecutor();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final Deque<SpooledMessage> sent = new ConcurrentLinkedDeque<>();
    private volatile Function<SpooledMessage, AttemptResult> upstream;
    private SpoolStore store;

    @BeforeEach
    void open() throws Exception {
        store = SpoolStore.open(SpoolTesting.settings(dir), SpoolFiles.disk(), clock, new SpoolMetrics(registry));
    }

    @AfterEach
    void close() throws Exception {
        executor.shutdownNow();
        store.close();
    }

    private SpoolScheduler scheduler(BounceMode bounce) {
        return scheduler(bounce, 10);
    }

    private SpoolScheduler scheduler(BounceMode bounce, int maxInFlight) {
        SpoolSender sender = message -> {
            sent.add(message);
            return CompletableFuture.completedFuture(upstream.apply(message));
        };
        return new SpoolScheduler(store, sender, new RetrySchedule(Duration.ofMinutes(1), Duration.ofHours(1), () -> 0.5),
                Duration.ofDays(5), bounce, new DeliveryStatusNotification("relay.example.net"),
                new SpoolMetrics(registry), clock, executor, maxInFlight);
    }

    private double fsyncs() {
        return registry.get("smtp.proxy.spool.fsyncs").counter().count();
    }

    /** Polls (bounded) until the spool is empty. */
    private void awaitEmpty() throws InterruptedException {
        for (int i = 0; i < 500 && store.depth() > 0; i++) {
            Thread.sleep(10);
        }
    }

    private double attempts(String outcome) {
        return registry.get("smtp.proxy.spool.delivery.attempts").tag("outcome", outcome).counters().stream()
                .mapToDouble(c -> c.count()).sum();
    }

    /** A tick, then whatever it queued (results, notifications) has run. */
    private void tick(SpoolScheduler scheduler) throws Exception {
        scheduler.wake().get(10, TimeUnit.SECONDS);
        for (int i = 0; i < 3; i++) {
            executor.submit(() -> { }).get(10, TimeUnit.SECONDS);
            Thread.sleep(10); // a notification's group commit completes on the commit thread
        }
    }

    private SpoolEnvelope commit(String sender, String... recipients) throws Exception {
        SpoolWriter writer = store.open();
        writer.write("Subject: report\r\nMessage-ID: <1@mfp>\r\n\r\nbody\r\n".getBytes(StandardCharsets.US_ASCII));
        return writer.commit(SpoolTesting.draft(sender, recipients)).get(10, TimeUnit.SECONDS);
    }

    @Test
    void deliveredMessageIsRemoved() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> AttemptResult.allPending(message.envelope(), OK);
        commit("a@example.com", "b@example.com");
        tick(scheduler);
        assertEquals(1, sent.size());
        assertEquals(0, store.depth());
        assertEquals(1.0, attempts("delivered"));
    }

    @Test
    void aFinishedAttemptDispatchesTheNextMessageWithoutWaitingForATick() throws Exception {
        // One in flight and no periodic tick at all: a backlog must still drain, one message after
        // the other, not one per tick (which drained a backlog at 20 messages a second).
        SpoolScheduler scheduler = scheduler(BounceMode.DSN, 1);
        upstream = message -> AttemptResult.allPending(message.envelope(), OK);
        for (int i = 0; i < 5; i++) {
            commit("a@example.com", "b" + i + "@example.com");
        }
        scheduler.wake().get(10, TimeUnit.SECONDS);
        awaitEmpty();
        assertEquals(0, store.depth());
        assertEquals(5, sent.size());
        assertEquals(5.0, attempts("delivered"));
    }

    @Test
    void aDeliveredMessageIsRemovedWithOneDirectoryFsyncAndNoEnvelopeRewrite() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> AttemptResult.allPending(message.envelope(), OK);
        SpoolEnvelope envelope = commit("a@example.com", "b@example.com");
        assertEquals(2.0, fsyncs(), "the message file, queue/");
        tick(scheduler);
        awaitEmpty();
        for (int i = 0; i < 500 && fsyncs() < 3; i++) {
            Thread.sleep(10); // the removal's fsync of queue/ is on the commit thread
        }
        assertEquals(3.0, fsyncs(), "the removal's fsync of queue/ only: the envelope is not rewritten first");
        assertTrue(store.layout().readEnvelope(envelope.id()).isEmpty());
        assertEquals(List.of(), SpoolTesting.names(dir.resolve("queue")), "the message file left queue/");
    }

    @Test
    void onlyPendingRecipientsAreRetriedAfterTheBackoff() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> new AttemptResult(Map.of(0, OK, 1, BUSY), OK);
        SpoolEnvelope envelope = commit("a@example.com", "one@example.com", "two@example.com");
        tick(scheduler);
        SpoolEnvelope after = store.envelope(envelope.id()).orElseThrow();
        assertEquals(RecipientState.DELIVERED, after.recipients().get(0).state());
        assertEquals(RecipientState.PENDING, after.recipients().get(1).state());
        assertEquals(BUSY.oneLine(), after.recipients().get(1).lastReply());
        assertEquals(1, after.attempts());
        assertEquals(START.plus(Duration.ofMinutes(1)), after.nextAttempt());

        clock.advance(Duration.ofSeconds(59));
        tick(scheduler);
        assertEquals(1, sent.size(), "not before the backoff");

        List<List<String>> tried = new ArrayList<>();
        upstream = message -> {
            tried.add(message.envelope().recipients().stream().filter(SpoolRecipient::isPending)
                    .map(SpoolRecipient::address).toList());
            return new AttemptResult(Map.of(1, BUSY), BUSY);
        };
        clock.advance(Duration.ofSeconds(1));
        tick(scheduler);
        assertEquals(List.of(List.of("two@example.com")), tried);
        assertEquals(START.plus(Duration.ofMinutes(1)).plus(Duration.ofMinutes(2)),
                store.envelope(envelope.id()).orElseThrow().nextAttempt(), "doubled");
    }

    @Test
    void backoffDoublesCapsAndJitters() {
        RetrySchedule low = new RetrySchedule(Duration.ofMinutes(1), Duration.ofHours(1), () -> 0.0);
        RetrySchedule high = new RetrySchedule(Duration.ofMinutes(1), Duration.ofHours(1), () -> 0.999_999);
        RetrySchedule mid = new RetrySchedule(Duration.ofMinutes(1), Duration.ofHours(1), () -> 0.5);
        assertEquals(Duration.ofSeconds(48), low.backoff(1));
        assertEquals(Duration.ofSeconds(72), high.backoff(1));
        assertEquals(Duration.ofMinutes(8), mid.backoff(4));
        assertEquals(Duration.ofHours(1), mid.backoff(7));
        assertEquals(Duration.ofHours(1), mid.backoff(1000));
    }

    @Test
    void permanentFailureSendsOneNotificationFromTheNullSender() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        // The notification is deferred at first, whenever it is tried: the test reads it from the
        // spool before letting it through (a wake may try it before the tick below returns).
        upstream = message -> message.envelope().hasNullSender()
                ? AttemptResult.allPending(message.envelope(), BUSY)
                : new AttemptResult(Map.of(0, UNKNOWN, 1, OK), OK);
        SpoolEnvelope original = commit("scanner@example.com", "nobody@example.com", "alice@example.com");
        tick(scheduler);
        assertEquals(1, store.depth(), "the notification");
        SpoolEnvelope dsn = store.envelopes().get(0);
        assertTrue(dsn.hasNullSender());
        assertEquals("scanner@example.com", dsn.recipients().get(0).address());
        String text;
        try (InputStream in = store.openContent(dsn.id())) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(text.contains("Final-Recipient: rfc822; nobody@example.com\r\n"), text);
        assertTrue(!text.contains("alice@example.com"), "a delivered recipient is not reported");
        assertTrue(text.contains("Message-ID: <1@mfp>"), "the original's headers");
        assertTrue(text.contains(original.id().value()));
        upstream = message -> AttemptResult.allPending(message.envelope(), OK);
        clock.advance(Duration.ofMinutes(2));
        tick(scheduler);
        awaitEmpty();
        assertEquals(0, store.depth(), "the notification is delivered like any message");
    }

    @Test
    void noNotificationForANullSenderOrWithLogOnly() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> AttemptResult.allPending(message.envelope(), UNKNOWN);
        commit("", "nobody@example.com");
        tick(scheduler);
        assertEquals(0, store.depth());
        assertEquals(0.0, registry.get("smtp.proxy.spool.notifications").counter().count());

        SpoolScheduler logOnly = scheduler(BounceMode.LOG_ONLY);
        commit("scanner@example.com", "nobody@example.com");
        tick(logOnly);
        assertEquals(0, store.depth());
        assertEquals(0.0, registry.get("smtp.proxy.spool.notifications").counter().count());
    }

    @Test
    void messageExpiresAfterMaxAgeWithANotification() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> message.envelope().hasNullSender()
                ? AttemptResult.allPending(message.envelope(), OK)
                : AttemptResult.allPending(message.envelope(), BUSY);
        SpoolEnvelope original = commit("scanner@example.com", "slow@example.com");
        int attempts = 0;
        for (int i = 0; i < 200 && store.envelope(original.id()).isPresent(); i++) {
            tick(scheduler);
            attempts = store.envelope(original.id()).map(SpoolEnvelope::attempts).orElse(attempts);
            clock.advance(Duration.ofHours(1));
        }
        assertTrue(store.envelope(original.id()).isEmpty(), "expired and removed");
        assertTrue(attempts > 100 && attempts <= 121, "hourly retries over 5 days: " + attempts);
        assertEquals(1.0, attempts("expired"));
        assertEquals(1.0, registry.get("smtp.proxy.spool.notifications").counter().count());
    }

    @Test
    void aThrottlingReplyHoldsTheWholeUpstream() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> AttemptResult.allPending(message.envelope(), THROTTLED);
        commit("a@example.com", "b@example.com");
        tick(scheduler);
        assertEquals(1, sent.size());
        upstream = message -> AttemptResult.allPending(message.envelope(), OK);
        commit("a@example.com", "c@example.com"); // due now, but the upstream is held
        tick(scheduler);
        assertEquals(1, sent.size());
        clock.advance(Duration.ofMinutes(1));
        tick(scheduler);
        assertEquals(3, sent.size());
        assertEquals(0, store.depth());
    }

    @Test
    void holdUpstreamUntilIsHonoured() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> AttemptResult.allPending(message.envelope(), OK);
        scheduler.holdUpstreamUntil(START.plus(Duration.ofMinutes(10)));
        commit("a@example.com", "b@example.com");
        tick(scheduler);
        assertEquals(0, sent.size());
        clock.advance(Duration.ofMinutes(10));
        tick(scheduler);
        assertEquals(1, sent.size());
    }

    @Test
    void aFailedAttemptIsTransient() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> {
            throw new IllegalStateException("connection refused");
        };
        SpoolEnvelope envelope = commit("a@example.com", "b@example.com");
        tick(scheduler);
        SpoolEnvelope after = store.envelope(envelope.id()).orElseThrow();
        assertEquals(1, after.attempts());
        assertTrue(after.recipients().get(0).lastReply().startsWith("451 4.4.1"), after.recipients().get(0).lastReply());
    }

    @Test
    void operatorRetryAndDeleteThroughControlFiles() throws Exception {
        SpoolScheduler scheduler = scheduler(BounceMode.DSN);
        upstream = message -> AttemptResult.allPending(message.envelope(), BUSY);
        SpoolEnvelope keep = commit("a@example.com", "b@example.com");
        SpoolEnvelope drop = commit("a@example.com", "c@example.com");
        tick(scheduler);
        assertEquals(2, sent.size());
        SpoolControl control = new SpoolControl(store.layout());
        control.requestDelete(drop.id());
        control.requestRetry(null);
        tick(scheduler);
        assertEquals(3, sent.size(), "retried at once, the deleted one not");
        assertEquals(keep.id(), sent.peekLast().id());
        assertEquals(List.of(keep.id()), List.copyOf(store.ids()));
        assertTrue(!control.pending(SpoolControl.Action.DELETE, drop.id()));
    }

    @Test
    void aDeleteDuringAnAttemptIsAppliedAfterIt() throws Exception {
        CompletableFuture<AttemptResult> slow = new CompletableFuture<>();
        SpoolScheduler scheduler = new SpoolScheduler(store, message -> slow,
                new RetrySchedule(Duration.ofMinutes(1), Duration.ofHours(1), () -> 0.5), Duration.ofDays(5),
                BounceMode.DSN, new DeliveryStatusNotification("relay.example.net"), new SpoolMetrics(registry), clock,
                executor, 10);
        SpoolEnvelope envelope = commit("a@example.com", "b@example.com");
        tick(scheduler);
        new SpoolControl(store.layout()).requestDelete(envelope.id());
        tick(scheduler);
        assertEquals(1, store.depth(), "in flight");
        slow.complete(AttemptResult.allPending(envelope, BUSY));
        tick(scheduler);
        assertEquals(0, store.depth());
        assertEquals(1, SpoolTesting.names(dir.resolve("deleted")).size(), "ID.msg: the envelope never changed");
    }
}
