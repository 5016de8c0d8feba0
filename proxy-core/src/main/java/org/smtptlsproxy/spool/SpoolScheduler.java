package org.smtptlsproxy.spool;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.config.BounceMode;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.smtp.UpstreamReplyReason;
import org.smtptlsproxy.spool.SpoolMetrics.AttemptOutcome;

/**
 * Decides when each spooled message is sent and what its results mean (Postfix's qmgr): picks
 * the due messages in order of their next attempt, at most {@code maxInFlight} at once, hands each to the
 * {@link SpoolSender}, and records per-recipient results durably before anything else happens.
 * Only pending recipients are retried, after {@link RetrySchedule}'s backoff; a message older
 * than {@code maxAge} expires; a finished message with refused recipients gets a notification
 * (unless {@code bounce: log_only} or the sender is null) before it is removed. A throttling
 * reply from the upstream, or {@link #holdUpstreamUntil}, holds every attempt until then.
 *
 * <p>The scheduler keeps its own index of the messages waiting, ordered by when each is due
 * ({@link DueMessages}), fed by the store's commits, so a tick costs the messages it dispatches,
 * not a scan of the whole spool: a tick runs after every finished attempt, and a scan per tick
 * made the scheduler's thread the proxy's busiest at a steady load.
 *
 * <p>All state lives on one thread, the executor's; the executor must be single-threaded. The
 * {@code queue} command's requests ({@link SpoolControl}) are applied on each tick (read on every
 * periodic tick, and on a wake only when {@code control/} changed).
 */
public final class SpoolScheduler implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(SpoolScheduler.class);

    private final SpoolStore store;
    private final SpoolSender sender;
    private final RetrySchedule retry;
    private final Duration maxAge;
    private final BounceMode bounce;
    private final DeliveryStatusNotification notifications;
    private final SpoolMetrics metrics;
    private final Clock clock;
    private final ScheduledExecutorService executor;
    private final int maxInFlight;
    private final SpoolControl control;
    private final Set<SpoolId> inFlight = new HashSet<>();
    private final DueMessages due = new DueMessages();
    /** Finished messages whose notification or removal is still to do (or to try again). */
    private final Set<SpoolId> toComplete = new LinkedHashSet<>();
    /** Committed messages handed over by the store's commit thread, taken in by the next tick. */
    private final Queue<SpoolEnvelope> arrivals = new ConcurrentLinkedQueue<>();
    private volatile boolean started;
    private FileTime controlSeen;
    private final Set<SpoolId> deleteAfterAttempt = new HashSet<>();
    private final Set<SpoolId> completing = new HashSet<>();
    /** Written on the executor only; volatile for {@link #upstreamHeldUntil()}'s readers. */
    private volatile Instant upstreamHeldUntil = Instant.MIN;
    private int consecutiveThrottles;
    private ScheduledFuture<?> ticks;
    /** A wake-up tick submitted and not started yet: wakes in between share it (one per commit batch, not per message). */
    private final AtomicReference<Future<?>> pendingWake = new AtomicReference<>();

    public SpoolScheduler(SpoolStore store, SpoolSender sender, RetrySchedule retry, Duration maxAge, BounceMode bounce,
            DeliveryStatusNotification notifications, SpoolMetrics metrics, Clock clock,
            ScheduledExecutorService executor, int maxInFlight) {
        this.store = store;
        this.sender = sender;
        this.retry = retry;
        this.maxAge = maxAge;
        this.bounce = bounce;
        this.notifications = notifications;
        this.metrics = metrics;
        this.clock = clock;
        this.executor = executor;
        this.maxInFlight = maxInFlight;
        this.control = new SpoolControl(store.layout());
        // Listen first, then take what is already there: a commit in between arrives twice, and
        // the second is dropped as already tracked, rather than never.
        store.onCommitted(envelope -> {
            arrivals.add(envelope);
            if (started) {
                wake();
            }
        });
        arrivals.addAll(store.envelopes());
    }

    /** Ticks every {@code interval} (operator requests, due retries) and at once after each commit. */
    public void start(Duration interval) {
        started = true;
        ticks = executor.scheduleWithFixedDelay(() -> tick(true), 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Runs a tick soon (one that has not started yet, when there is one); safe from any thread. */
    public Future<?> wake() {
        while (true) {
            Future<?> pending = pendingWake.get();
            if (pending != null) {
                return pending;
            }
            java.util.concurrent.FutureTask<Void> task = new java.util.concurrent.FutureTask<>(() -> {
                pendingWake.set(null);
                tick(false);
            }, null);
            if (pendingWake.compareAndSet(null, task)) {
                try {
                    executor.execute(task);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    // Closed: the attempt that just ended was the last; its result is recorded.
                    pendingWake.set(null);
                    task.cancel(false);
                }
                return task;
            }
        }
    }

    /**
     * The upstream said it is throttling us: no attempt starts before {@code until} (the delivery
     * calls this on Exchange Online's throttling replies; the scheduler also does on its own when a
     * result carries one). Safe from any thread.
     */
    public void holdUpstreamUntil(Instant until) {
        executor.execute(() -> {
            if (until.isAfter(upstreamHeldUntil)) {
                upstreamHeldUntil = until;
                log.warn("spool: upstream throttling; holding every delivery attempt until {}", until);
            }
        });
    }

    /** Until when a throttling hold stops every attempt ({@link Instant#MIN}: none); for /health. */
    public Instant upstreamHeldUntil() {
        return upstreamHeldUntil;
    }

    private void tick(boolean periodic) {
        try {
            takeArrivals();
            applyRequests(periodic);
            for (SpoolId id : List.copyOf(toComplete)) {
                toComplete.remove(id);
                // Its results are on disk; the notification or removal is not yet.
                store.envelope(id).ifPresent(this::complete);
            }
            Instant now = clock.instant();
            while (inFlight.size() < maxInFlight && !now.isBefore(upstreamHeldUntil)) {
                SpoolId id = due.takeDue(now);
                if (id == null) {
                    break;
                }
                Optional<SpoolEnvelope> envelope = store.envelope(id);
                if (envelope.isPresent() && envelope.get().isFinished()) {
                    complete(envelope.get());
                } else if (envelope.isPresent()) {
                    dispatch(envelope.get());
                }
            }
        } catch (IOException | RuntimeException e) {
            log.error("spool: scheduler tick failed; trying again at the next", e);
        }
    }

    /** Indexes the messages committed since the last tick (and, at the first, those recovered). */
    private void takeArrivals() {
        for (SpoolEnvelope envelope; (envelope = arrivals.poll()) != null; ) {
            if (isKnown(envelope.id())) {
                continue; // committed while this scheduler was being built: it arrived twice
            }
            if (envelope.isFinished()) {
                toComplete.add(envelope.id());
            } else {
                due.schedule(envelope.id(), envelope.nextAttempt());
            }
        }
    }

    /**
     * The operator's requests. A wake reads {@code control/} only when its modification time moved
     * (one stat instead of a directory listing after every attempt); the periodic tick always
     * reads it, so a request made within the file system's timestamp granularity of the last
     * reading waits at most one period.
     */
    private void applyRequests(boolean periodic) throws IOException {
        FileTime modified = control.lastModified();
        if (!periodic && modified.equals(controlSeen)) {
            return;
        }
        controlSeen = modified;
        for (SpoolControl.Request request : control.requests()) {
            if (request.action() == SpoolControl.Action.DELETE) {
                if (inFlight.contains(request.id())) {
                    deleteAfterAttempt.add(request.id());
                } else if (store.moveToDeleted(request.id())) {
                    forget(request.id());
                    log.info("spool: {} deleted by the operator", request.id());
                }
            } else {
                Instant now = clock.instant();
                List<SpoolEnvelope> targets = request.id() == null ? store.envelopes()
                        : store.envelope(request.id()).map(List::of).orElse(List.of());
                for (SpoolEnvelope envelope : targets) {
                    if (!inFlight.contains(envelope.id()) && envelope.nextAttempt().isAfter(now)) {
                        store.update(envelope.withNextAttempt(now));
                        if (due.contains(envelope.id())) {
                            due.schedule(envelope.id(), now);
                        }
                    }
                }
                upstreamHeldUntil = Instant.MIN; // the operator says now: that overrides a throttling hold
            }
            control.done(request);
        }
    }

    /** Whether the message is waiting, in flight or being finished here already. */
    private boolean isKnown(SpoolId id) {
        return due.contains(id) || inFlight.contains(id) || toComplete.contains(id) || completing.contains(id);
    }

    /** A message the store no longer holds. */
    private void forget(SpoolId id) {
        due.remove(id);
        toComplete.remove(id);
    }

    private void dispatch(SpoolEnvelope envelope) {
        SpooledMessage message = store.message(envelope.id());
        if (message == null) {
            forget(envelope.id());
            return;
        }
        inFlight.add(envelope.id());
        CompletableFuture<AttemptResult> attempt;
        try {
            attempt = sender.send(message).toCompletableFuture();
        } catch (RuntimeException e) {
            attempt = CompletableFuture.failedFuture(e);
        }
        attempt.whenComplete((result, failure) -> executor.execute(() -> finished(envelope, result, failure)));
    }

    private void finished(SpoolEnvelope sent, AttemptResult result, Throwable failure) {
        SpoolId id = sent.id();
        inFlight.remove(id);
        try {
            if (deleteAfterAttempt.remove(id)) {
                store.moveToDeleted(id);
                forget(id);
                log.info("spool: {} deleted by the operator after the attempt in flight", id);
                return;
            }
            if (failure != null || result == null) {
                String reason = failure == null ? "no result" : String.valueOf(failure.getMessage());
                result = AttemptResult.allPending(sent, SmtpReply.of(451, "4.4.1 Delivery attempt failed: " + reason));
            }
            record(sent, result);
        } catch (IOException | RuntimeException e) {
            // The envelope on disk still has the previous state: those recipients are tried again
            // (the documented duplicate window), never lost.
            log.error("spool: could not record the attempt of {}", id, e);
            due.schedule(id, clock.instant().plus(retry.backoff(sent.attempts() + 1)));
        }
        // A place in flight is free: the next due message goes now, not at the next tick (which
        // would drain a backlog at maxInFlight messages a tick).
        wake();
    }

    private void record(SpoolEnvelope sent, AttemptResult result) throws IOException {
        Instant now = clock.instant();
        List<SpoolRecipient> recipients = new ArrayList<>(sent.recipients());
        boolean anyDelivered = false;
        boolean anyFailed = false;
        boolean throttled = false;
        for (Map.Entry<Integer, SmtpReply> entry : result.recipients().entrySet()) {
            int index = entry.getKey();
            if (index < 0 || index >= recipients.size() || !recipients.get(index).isPending()) {
                continue;
            }
            SmtpReply reply = entry.getValue();
            throttled |= UpstreamReplyReason.of(reply) == UpstreamReplyReason.THROTTLED;
            if (reply.isPositiveCompletion()) {
                recipients.set(index, recipients.get(index).with(RecipientState.DELIVERED, reply.oneLine()));
                anyDelivered = true;
            } else if (reply.isPermanentFailure()) {
                recipients.set(index, recipients.get(index).with(RecipientState.FAILED, reply.oneLine()));
                anyFailed = true;
            } else {
                recipients.set(index, recipients.get(index).with(RecipientState.PENDING, reply.oneLine()));
            }
        }
        throttled |= result.transaction() != null && UpstreamReplyReason.of(result.transaction()) == UpstreamReplyReason.THROTTLED;
        SpoolEnvelope after = sent.withRecipients(recipients);
        boolean expired = false;
        if (!after.isFinished() && !now.isBefore(sent.arrival().plus(maxAge))) {
            expired = true;
            for (int i = 0; i < recipients.size(); i++) {
                SpoolRecipient recipient = recipients.get(i);
                if (recipient.isPending()) {
                    recipients.set(i, recipient.with(RecipientState.FAILED, "451 4.4.7 Delivery time expired after "
                            + org.smtptlsproxy.config.Durations.format(maxAge) + "; last reply: "
                            + (recipient.lastReply() == null ? "none" : recipient.lastReply())));
                }
            }
            after = sent.withRecipients(recipients);
        }
        int attempts = sent.attempts() + 1;
        Instant next = now.plus(retry.backoff(attempts));
        Instant deadline = sent.arrival().plus(maxAge);
        if (next.isAfter(deadline)) {
            next = deadline.isAfter(now) ? deadline : now;
        }
        String transaction = result.transaction() == null ? null : result.transaction().oneLine();
        after = after.afterAttempt(next, transaction);
        if (!after.isFinished() || needsNotification(after)) {
            store.update(after);
        }
        // else: nothing is left to do but remove it, and the removal is the durable record; a
        // crash before it is on disk sends the message again (the window after the upstream's 250).

        UpstreamReplyReason reason = result.transaction() == null ? UpstreamReplyReason.NONE
                : UpstreamReplyReason.of(result.transaction());
        AttemptOutcome outcome = expired ? AttemptOutcome.EXPIRED
                : !after.isFinished() ? AttemptOutcome.DEFERRED
                : anyFailed && !anyDelivered ? AttemptOutcome.FAILED : AttemptOutcome.DELIVERED;
        metrics.attempt(outcome, reason);
        log.info("spool: id={} session={} attempt={} outcome={} pending={} reply={}", sent.id(), sent.sessionId(),
                attempts, outcome.label(), after.pendingCount(), transaction);
        if (throttled) {
            consecutiveThrottles++;
            holdUpstreamUntil(now.plus(retry.backoff(consecutiveThrottles)));
        } else if (anyDelivered) {
            consecutiveThrottles = 0;
        }
        if (after.isFinished()) {
            complete(after);
        } else {
            due.schedule(sent.id(), after.nextAttempt());
        }
    }

    private boolean needsNotification(SpoolEnvelope finished) {
        return bounce != BounceMode.LOG_ONLY && !DeliveryStatusNotification.reportable(finished).isEmpty();
    }

    /** A finished message: the notification (if one is due) made durable first, then removal. */
    private void complete(SpoolEnvelope finished) {
        List<SpoolRecipient> reportable = DeliveryStatusNotification.reportable(finished);
        if (reportable.isEmpty() || bounce == BounceMode.LOG_ONLY) {
            for (SpoolRecipient recipient : finished.recipients()) {
                if (recipient.state() == RecipientState.FAILED) {
                    log.warn("spool: id={} session={} from=<{}> to=<{}> undeliverable: {}{}", finished.id(),
                            finished.sessionId(), finished.sender(), recipient.address(), recipient.lastReply(),
                            finished.hasNullSender() ? " (null sender: no notification)" : "");
                }
            }
            remove(finished.id());
            return;
        }
        completing.add(finished.id());
        CompletableFuture<SpoolEnvelope> queued;
        try {
            queued = enqueueNotification(finished, reportable);
        } catch (IOException | RuntimeException e) {
            queued = CompletableFuture.failedFuture(e);
        }
        queued.whenComplete((dsn, failure) -> executor.execute(() -> {
            completing.remove(finished.id());
            if (failure != null) {
                // The original stays (finished, on disk): the next tick tries the notification again.
                toComplete.add(finished.id());
                log.error("spool: could not queue the notification for {}: {}", finished.id(), failure.toString());
                return;
            }
            metrics.notificationQueued();
            log.info("spool: id={} notification {} queued for <{}>", finished.id(), dsn.id(), finished.sender());
            remove(finished.id());
        }));
    }

    private CompletableFuture<SpoolEnvelope> enqueueNotification(SpoolEnvelope original, List<SpoolRecipient> reportable)
            throws IOException {
        SpoolWriter writer = store.open();
        try (InputStream content = store.openContent(original.id())) {
            notifications.write(original, reportable, content, clock.instant(), writer.id().value(), new OutputStream() {
                @Override
                public void write(int b) throws IOException {
                    writer.write(new byte[] {(byte) b});
                }

                @Override
                public void write(byte[] bytes, int offset, int length) throws IOException {
                    writer.write(bytes, offset, length);
                }
            });
        } catch (IOException | RuntimeException e) {
            writer.abort();
            throw e;
        }
        return writer.commit(new MessageDraft(original.listener(), original.sessionId(), "notification for " + original.id(),
                "", "", List.of(SpoolRecipient.pending(original.sender(), ""))));
    }

    private void remove(SpoolId id) {
        try {
            store.remove(id);
            forget(id);
        } catch (IOException e) {
            toComplete.add(id);
            log.error("spool: could not remove the finished message {}; it is removed at the next tick", id, e);
        }
    }

    /** Stops ticking; attempts in flight finish on their own. */
    @Override
    public void close() {
        if (ticks != null) {
            ticks.cancel(false);
        }
    }
}
