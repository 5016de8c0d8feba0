package org.smtptlsproxy.delivery;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.PromiseCombiner;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.smtptlsproxy.smtp.DotStuffing;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;
import org.smtptlsproxy.spool.AttemptResult;
import org.smtptlsproxy.spool.SpoolEnvelope;
import org.smtptlsproxy.spool.SpoolRecipient;
import org.smtptlsproxy.spool.SpooledMessage;

/**
 * One delivery attempt of a spooled message, driven like a client would drive a cut-through
 * transaction: MAIL and the pending recipients' RCPTs pipelined, DATA once a recipient is
 * accepted, then the file streamed (dot-stuffed again) as fast as the upstream takes it. Each
 * recipient's result is the reply that decided it: its RCPT reply when that refused it, else the
 * reply to DATA or to the end of data. Lives on one event loop; only file reads leave it.
 */
final class SpoolAttempt {

    private static final Logger LOG = LoggerFactory.getLogger(SpoolAttempt.class);
    private static final int CHUNK_BYTES = 64 * 1024;
    private static final SmtpReply UNREADABLE_ENVELOPE =
            SmtpReply.of(554, "5.6.0 The spooled envelope cannot be sent: its addresses or parameters do not parse");
    private static final SmtpReply CONTENT_UNREADABLE =
            SmtpReply.of(451, "4.3.0 Cannot read the spooled message; will try again");

    private final SpooledMessage message;
    private final SpoolEnvelope envelope;
    private final DeliverySession session;
    private final EventLoop loop;
    private final Executor fileReads;
    private final String hostname;
    private final CompletableFuture<AttemptResult> result;
    /** The envelope index of each recipient this attempt sends, in RCPT order. */
    private final List<Integer> sent = new ArrayList<>();
    private final List<Future<SmtpReply>> rcptReplies = new ArrayList<>();
    private final DotStuffing transparency = DotStuffing.forMessage();
    private DeliveryTransaction transaction;
    private InputStream content;
    /** Content bytes not read yet: the envelope knows the size, so the end needs no extra read. */
    private long unread;
    private boolean reading;
    private boolean endsWithLineBreak = true;
    private boolean finished;

    SpoolAttempt(SpooledMessage message, DeliverySession session, EventLoop loop, Executor fileReads, String hostname,
                 CompletableFuture<AttemptResult> result) {
        this.message = message;
        this.envelope = message.envelope();
        this.session = session;
        this.loop = loop;
        this.fileReads = fileReads;
        this.hostname = hostname;
        this.result = result;
    }

    void start() {
        try {
            List<MailPath> recipients = new ArrayList<>();
            for (int i = 0; i < envelope.recipients().size(); i++) {
                SpoolRecipient recipient = envelope.recipients().get(i);
                if (recipient.isPending()) {
                    Optional<MailPath> path = path("TO:", recipient.address(), recipient.parameters());
                    if (path.isEmpty()) {
                        finish(AttemptResult.allPending(envelope, UNREADABLE_ENVELOPE));
                        return;
                    }
                    sent.add(i);
                    recipients.add(path.get());
                }
            }
            Optional<MailPath> sender = path("FROM:", envelope.sender(), envelope.senderParameters());
            if (sender.isEmpty() || recipients.isEmpty()) {
                finish(AttemptResult.allPending(envelope, UNREADABLE_ENVELOPE));
                return;
            }
            transaction = session.begin(new TransactionFacts(envelope.sessionId(), null, hostname, null, null, false));
            Future<SmtpReply> mail = transaction.mail(sender.get());
            recipients.forEach(recipient -> rcptReplies.add(transaction.rcpt(recipient)));
            PromiseCombiner all = new PromiseCombiner(loop);
            all.add(mail);
            rcptReplies.forEach(all::add);
            all.finish(loop.<Void>newPromise().addListener(done -> guarded(() -> envelopeAnswered(mail.getNow()))));
        } catch (RuntimeException e) {
            fail(e);
        }
    }

    private void envelopeAnswered(SmtpReply mail) {
        if (!mail.isPositiveCompletion()) {
            transaction.reset();
            finish(AttemptResult.allPending(envelope, mail));
            return;
        }
        if (rcptReplies.stream().noneMatch(reply -> reply.getNow().isPositiveCompletion())) {
            transaction.reset();
            finish(results(null, rcptReplies.get(0).getNow()));
            return;
        }
        transaction.data().addListener(done -> guarded(() -> {
            @SuppressWarnings("unchecked")
            SmtpReply data = ((Future<SmtpReply>) done).getNow();
            if (data.code() != 354) {
                transaction.reset();
                finish(results(data, data));
                return;
            }
            unread = envelope.contentSize();
            if (unread == 0) {
                endOfData();
                return;
            }
            int first = nextChunkSize();
            boolean last = first == unread;
            reading = true;
            fileReads.execute(() -> openAndRead(first, last));
        }));
    }

    /**
     * Opens the content and reads its first chunk in one task: a message that fits in a chunk
     * (most do) costs one trip to the file-reading thread and one back, its file closed there too.
     */
    private void openAndRead(int size, boolean last) {
        InputStream opened;
        try {
            opened = message.openContent();
        } catch (IOException e) {
            LOG.warn("spool: cannot open the content of {}: {}", envelope.id(), e.toString());
            loop.execute(() -> guarded(() -> abandon(CONTENT_UNREADABLE, "the spooled content cannot be read")));
            return;
        }
        readChunk(opened, size, last);
    }

    private int nextChunkSize() {
        return (int) Math.min(CHUNK_BYTES, unread);
    }

    /** Reads the next chunk when the upstream can take it; one read at a time. */
    private void pump() {
        if (finished || reading) {
            return;
        }
        SmtpReply failure = transaction.failure();
        if (failure != null) {
            abandon(failure, "the upstream was lost during the data");
            return;
        }
        if (!transaction.isWritable()) {
            transaction.onWritable(() -> guarded(this::pump));
            return;
        }
        reading = true;
        InputStream source = content;
        int size = nextChunkSize();
        boolean last = size == unread;
        fileReads.execute(() -> readChunk(source, size, last));
    }

    /** On the file-reading thread: exactly {@code size} bytes, the file closed after the last. */
    private void readChunk(InputStream source, int size, boolean last) {
        byte[] chunk = new byte[size];
        try {
            int length = source.readNBytes(chunk, 0, size);
            if (length < size) {
                throw new IOException("the content ends " + (size - length) + " bytes before the size its envelope records");
            }
        } catch (IOException e) {
            closeQuietly(source);
            LOG.warn("spool: cannot read the content of {}: {}", envelope.id(), e.toString());
            loop.execute(() -> guarded(() -> abandon(CONTENT_UNREADABLE, "the spooled content cannot be read")));
            return;
        }
        if (last) {
            closeQuietly(source);
        }
        loop.execute(() -> guarded(() -> chunkRead(source, chunk, last)));
    }

    private void chunkRead(InputStream source, byte[] chunk, boolean last) {
        reading = false;
        if (finished) {
            if (!last) {
                fileReads.execute(() -> closeQuietly(source));
            }
            return;
        }
        content = last ? null : source;
        unread -= chunk.length;
        endsWithLineBreak = chunk[chunk.length - 1] == '\n';
        transaction.content(transparency.stuff(Unpooled.wrappedBuffer(chunk), ByteBufAllocator.DEFAULT));
        if (unread == 0) {
            endOfData();
        } else {
            pump();
        }
    }

    private void endOfData() {
        // The terminator must follow a line break, or it is no terminator at all.
        ByteBuf last = endsWithLineBreak ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(new byte[] {'\r', '\n'});
        transaction.endOfData(last).addListener(done -> guarded(() -> {
            @SuppressWarnings("unchecked")
            SmtpReply reply = ((Future<SmtpReply>) done).getNow();
            finish(results(reply, reply));
        }));
    }

    /** Ends the transaction without an end of data: nothing of this attempt is delivered. */
    private void abandon(SmtpReply reply, String reason) {
        transaction.abort(reason);
        finish(results(reply, reply));
    }

    /**
     * Each sent recipient's result: its RCPT reply when that was not a 2xx, else
     * {@code accepted} (null: none was accepted, nothing more happened).
     */
    private AttemptResult results(SmtpReply accepted, SmtpReply transactionReply) {
        Map<Integer, SmtpReply> replies = new HashMap<>();
        for (int i = 0; i < sent.size(); i++) {
            SmtpReply rcpt = rcptReplies.get(i).getNow();
            replies.put(sent.get(i), rcpt.isPositiveCompletion() && accepted != null ? accepted : rcpt);
        }
        return new AttemptResult(replies, transactionReply);
    }

    private void finish(AttemptResult attempt) {
        if (finished) {
            return;
        }
        finished = true;
        session.close();
        closeContent();
        result.complete(attempt);
    }

    private void fail(Throwable cause) {
        if (finished) {
            return;
        }
        LOG.error("spool: the delivery attempt of {} failed", envelope.id(), cause);
        finished = true;
        if (transaction != null) {
            transaction.abort("delivery attempt failed: " + cause);
        }
        session.close();
        closeContent();
        result.completeExceptionally(cause);
    }

    private void closeContent() {
        InputStream open = content;
        content = null;
        if (open != null) {
            fileReads.execute(() -> closeQuietly(open));
        }
    }

    private void closeQuietly(InputStream open) {
        try {
            open.close();
        } catch (IOException e) {
            LOG.debug("spool: closing the content of {}: {}", envelope.id(), e.toString());
        }
    }

    private void guarded(Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            fail(e);
        }
    }

    private static Optional<MailPath> path(String prefix, String address, String parameters) {
        return MailPath.parse(prefix + "<" + address + ">" + (parameters.isEmpty() ? "" : " " + parameters), prefix);
    }
}
