package org.smtptlsproxy.delivery;

import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.smtp.DotStuffing;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.spool.MessageDraft;
import org.smtptlsproxy.spool.SpoolFullException;
import org.smtptlsproxy.spool.SpoolRecipient;
import org.smtptlsproxy.spool.SpoolStore;
import org.smtptlsproxy.spool.SpoolWriter;

/**
 * One transaction into the spool. The envelope is the proxy's to accept (only room in the spool
 * can refuse it); the content is written unstuffed as it arrives; the 250 goes out only once the
 * store says the message, its envelope and its directory entry are on disk. Until then anything
 * that goes wrong is a 4xx and the file is gone: the sender still has the message.
 *
 * <p>No file work runs on the event loop, which also serves cut-through sessions: opening the
 * file, the writes and the commit run on the spool's I/O threads, in order, as one chain of
 * tasks per transaction. A slow disk (the kernel throttling writers of dirty pages) then slows
 * the spooling senders, through the same backpressure as a slow upstream: past
 * {@link #HIGH_WATER} bytes waiting to be written the transaction is not writable and the
 * session stops reading, until the writes are down to {@link #LOW_WATER}. The fsyncs happen on
 * the store's commit thread, grouped across sessions.
 */
final class SpoolTransaction implements DeliveryTransaction {

    private static final Logger LOG = LoggerFactory.getLogger(SpoolTransaction.class);

    static final SmtpReply SPOOL_FULL = SmtpReply.of(452, "4.3.1 Insufficient system storage");
    static final SmtpReply SPOOL_ERROR = SmtpReply.of(451, "4.3.0 Local error in processing: cannot write the spool; try again later");
    private static final SmtpReply SENDER_OK = SmtpReply.of(250, "2.1.0 Sender OK");
    private static final SmtpReply RECIPIENT_OK = SmtpReply.of(250, "2.1.5 Recipient OK");
    private static final SmtpReply START_DATA = SmtpReply.of(354, "End data with <CR><LF>.<CR><LF>");
    static final int HIGH_WATER = 256 * 1024;
    static final int LOW_WATER = 64 * 1024;

    private final SpoolStore store;
    private final String listener;
    private final TransactionFacts facts;
    private final EventLoop loop;
    /** This transaction's file work, in order, on the spool's I/O threads. */
    private final SerialTasks fileTasks;
    private final List<SpoolRecipient> recipients = new ArrayList<>();
    /** Used on the I/O threads only, one task at a time (the chain orders them). */
    private final DotStuffing transparency = DotStuffing.forMessage();
    private MailPath sender;
    /** Set by the first file task; used by the later ones only. */
    private SpoolWriter writer;
    /** Set on an I/O thread, read on the loop. */
    private volatile SmtpReply failure;
    /** Content bytes handed over and not written yet. */
    private final AtomicLong unwritten = new AtomicLong();
    /** Loop only. */
    private Runnable writableListener;

    SpoolTransaction(SpoolStore store, String listener, TransactionFacts facts, EventLoop loop, Executor fileIo) {
        this.store = store;
        this.listener = listener;
        this.facts = facts;
        this.loop = loop;
        this.fileTasks = new SerialTasks(fileIo);
    }

    @Override
    public Future<SmtpReply> mail(MailPath sender) {
        if (!store.hasRoomFor(declaredSize(sender))) {
            return loop.newSucceededFuture(SPOOL_FULL);
        }
        this.sender = sender;
        return loop.newSucceededFuture(SENDER_OK);
    }

    @Override
    public Future<SmtpReply> rcpt(MailPath recipient) {
        recipients.add(SpoolRecipient.pending(recipient.address(), parameterText(recipient.parameters())));
        return loop.newSucceededFuture(RECIPIENT_OK);
    }

    @Override
    public Future<SmtpReply> data() {
        Promise<SmtpReply> reply = loop.newPromise();
        fileTasks.submit(() -> reply.setSuccess(openFile()), () -> reply.setSuccess(SPOOL_ERROR));
        return reply;
    }

    private SmtpReply openFile() {
        try {
            writer = store.open();
            return START_DATA;
        } catch (SpoolFullException e) {
            LOG.warn("spool full, message refused with 452: {}", e.getMessage());
            return SPOOL_FULL;
        } catch (IOException | RuntimeException e) {
            LOG.error("cannot start a spool file: {}", e.toString());
            return SPOOL_ERROR;
        }
    }

    @Override
    public void content(ByteBuf chunk) {
        int size = chunk.readableBytes();
        unwritten.addAndGet(size);
        fileTasks.submit(() -> {
            try {
                write(chunk);
            } finally {
                chunk.release();
                written(size);
            }
        }, () -> {
            chunk.release();
            written(size);
        });
    }

    private void write(ByteBuf chunk) {
        if (failure != null || writer == null) {
            return;
        }
        try {
            transparency.unstuff(chunk, writer::write);
        } catch (SpoolFullException e) {
            LOG.warn("spool full during the data, message refused with 452: {}", e.getMessage());
            failure = SPOOL_FULL;
        } catch (IOException | RuntimeException e) {
            LOG.error("cannot write spool file {}: {}", writer.id(), e.toString());
            failure = SPOOL_ERROR;
        }
    }

    /** On an I/O thread: a chunk is on its way to the disk; wake the session once few are left. */
    private void written(int size) {
        long left = unwritten.addAndGet(-size);
        if (left <= LOW_WATER && left + size > LOW_WATER) {
            try {
                loop.execute(this::drained);
            } catch (RejectedExecutionException e) {
                // The event loops are stopping: no session is left to wake.
            }
        }
    }

    /** The session ignores a wake it is not waiting for, so every drain may tell it. */
    private void drained() {
        if (writableListener != null && isWritable()) {
            writableListener.run();
        }
    }

    @Override
    public boolean isWritable() {
        return unwritten.get() <= HIGH_WATER;
    }

    @Override
    public void onWritable(Runnable listener) {
        this.writableListener = listener;
    }

    @Override
    public SmtpReply failure() {
        return failure;
    }

    @Override
    public Future<SmtpReply> endOfData(ByteBuf last) {
        content(last);
        Promise<SmtpReply> reply = loop.newPromise();
        MessageDraft draft = new MessageDraft(listener, facts.sessionId(), clientFacts(), sender.address(),
                parameterText(sender.parameters()), recipients);
        fileTasks.submit(() -> commit(draft, reply), () -> reply.setSuccess(SPOOL_ERROR));
        return reply;
    }

    /** On an I/O thread, after every write: the commit's future completes on the store's commit thread. */
    private void commit(MessageDraft draft, Promise<SmtpReply> reply) {
        if (writer == null) {
            reply.setSuccess(failure != null ? failure : SPOOL_ERROR);
            return;
        }
        if (failure != null) {
            writer.abort();
            reply.setSuccess(failure);
            return;
        }
        SpoolWriter committing = writer;
        CompletableFuture<org.smtptlsproxy.spool.SpoolEnvelope> committed;
        try {
            committed = committing.commit(draft);
        } catch (RuntimeException e) {
            committed = CompletableFuture.failedFuture(e);
        }
        committed.whenComplete((envelope, error) -> {
            if (error == null) {
                reply.setSuccess(SmtpReply.of(250, "2.0.0 Ok: queued as " + envelope.id().value()));
            } else if (error instanceof SpoolFullException || error.getCause() instanceof SpoolFullException) {
                reply.setSuccess(SPOOL_FULL);
            } else {
                LOG.error("cannot commit spool file {}: {}", committing.id(), error.toString());
                reply.setSuccess(SPOOL_ERROR);
            }
        });
    }

    @Override
    public void abort(String reason) {
        fileTasks.submit(() -> {
            if (writer != null) {
                writer.abort();
            }
        }, () -> { });
    }

    @Override
    public void reset() {
        abort("reset");
    }

    @Override
    public boolean keepsMessage() {
        return true;
    }

    @Override
    public String tlsProtocol() {
        return "spooled";
    }

    @Override
    public String tlsCipher() {
        return "spooled";
    }

    /** The sender's line for the log and {@code queue show}: where the message came from. */
    private String clientFacts() {
        StringBuilder line = new StringBuilder("client=").append(facts.client() == null ? "unknown"
                : facts.client().getAddress().getHostAddress() + ":" + facts.client().getPort());
        line.append(" helo=").append(facts.heloName());
        line.append(" tls=").append(facts.tlsProtocol() == null ? "none" : facts.tlsProtocol() + "/" + facts.tlsCipher());
        if (facts.authenticated()) {
            line.append(" auth=yes");
        }
        return line.toString();
    }

    private static long declaredSize(MailPath sender) {
        String size = sender.parameters().get("SIZE");
        try {
            return size == null ? 0 : Long.parseLong(size);
        } catch (NumberFormatException e) {
            return 0; // the session has validated it; a size it let through is not ours to refuse
        }
    }

    /** The parameters as they go upstream again: "KEY=value" or "KEY", in the order sent. */
    static String parameterText(Map<String, String> parameters) {
        StringBuilder text = new StringBuilder();
        parameters.forEach((keyword, value) -> {
            if (!text.isEmpty()) {
                text.append(' ');
            }
            text.append(keyword);
            if (!value.isEmpty()) {
                text.append('=').append(value);
            }
        });
        return text.toString();
    }
}
