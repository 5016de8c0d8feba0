package org.smtptlsproxy.spool;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable spool: one directory ({@link SpoolLayout}) owned by one process. A message is one
 * file ({@link MessageFile}): its content, then its envelope. It is written in {@code tmp/} (or over
 * a delivered message's file kept in {@code free/}, see {@link RecycledFiles}) and becomes a message
 * only by rename into {@code queue/} after it is fsynced, followed by an fsync of {@code queue/};
 * its commit completes after that and not before, so a 250 is only ever given for a message that
 * survives a crash. Envelope changes are a sidecar file, {@code queue/ID.env}, renamed over the
 * previous one: a crash leaves one or the other, never a mix.
 *
 * <p>The envelopes are also kept in memory (bounded by {@code max_messages}) for the scheduler; the
 * content never is. Thread-safe: sessions commit from any thread, the scheduler updates and removes
 * from its own; only one thread changes a given message at a time (the scheduler's), which the
 * queue command respects by going through {@link SpoolControl} while the store is open.
 */
public final class SpoolStore implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(SpoolStore.class);

    private final SpoolLayout layout;
    private final SpoolFiles files;
    private final SpoolSettings settings;
    private final Clock clock;
    private final SpoolMetrics metrics;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final ConcurrentSkipListMap<SpoolId, SpoolEnvelope> messages = new ConcurrentSkipListMap<>();
    /** The messages whose envelope changed since the commit: they have a {@code queue/ID.env} to remove too. */
    private final Set<SpoolId> sidecars = ConcurrentHashMap.newKeySet();
    private final RecycledFiles recycled = new RecycledFiles();
    /** Content bytes of the messages, plus those written so far by open writers. */
    private final AtomicLong usedBytes = new AtomicLong();
    private final Object reservations = new Object();
    private int openWriters;
    private final AtomicLong tempCounter = new AtomicLong();
    private final SpoolIdGenerator ids;
    private final GroupCommitter committer;
    private final RecoveryReport recovery;
    private volatile Consumer<SpoolEnvelope> committedListener = envelope -> { };
    private volatile boolean closed;

    private SpoolStore(SpoolSettings settings, SpoolFiles files, Clock clock, SpoolMetrics metrics,
            FileChannel lockChannel, FileLock lock) throws IOException {
        this.layout = new SpoolLayout(settings.directory());
        this.files = new CountedSpoolFiles(files, metrics::fsynced);
        this.settings = settings;
        this.clock = clock;
        this.metrics = metrics;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.recovery = new SpoolRecovery(layout, files, metrics).run(messages, sidecars);
        messages.values().forEach(envelope -> usedBytes.addAndGet(envelope.contentSize()));
        this.ids = new SpoolIdGenerator(clock, messages.isEmpty() ? null : messages.lastKey());
        if (settings.groupCommit()) {
            this.committer = new GroupCommitter("spool-commit", settings.syncParallelism(), this::publishBatch,
                    this::syncQueueAfterRemovals);
            this.committer.start();
        } else {
            this.committer = null;
        }
    }

    /**
     * Opens (creating it if needed) and recovers the spool, taking its lock.
     *
     * @throws SpoolLockedException when another process owns the directory
     */
    public static SpoolStore open(SpoolSettings settings, SpoolFiles files, Clock clock, SpoolMetrics metrics)
            throws IOException {
        SpoolLayout layout = new SpoolLayout(settings.directory());
        layout.createDirectories();
        FileChannel channel = FileChannel.open(layout.lockFile(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            throw new SpoolLockedException("the spool " + layout.root() + " is in use by another process (a running proxy?)");
        }
        try {
            SpoolStore store = new SpoolStore(settings, files, clock, metrics, channel, lock);
            metrics.bind(store, settings, clock);
            return store;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    public SpoolLayout layout() {
        return layout;
    }

    public RecoveryReport recovery() {
        return recovery;
    }

    /** Told of every message committed (on the commit thread: hand off, do not block). */
    public void onCommitted(Consumer<SpoolEnvelope> listener) {
        this.committedListener = listener;
    }

    /**
     * Whether a message of about {@code expectedSize} bytes (a SIZE= declaration, or 0 when unknown)
     * fits now: asked before DATA, so a full spool answers 452 before the sender sends the content.
     */
    public boolean hasRoomFor(long expectedSize) {
        synchronized (reservations) {
            return messages.size() + openWriters < settings.maxMessages()
                    && usedBytes.get() + Math.max(0, expectedSize) <= settings.maxSize();
        }
    }

    /** Starts a message. @throws SpoolFullException when {@code max_messages} is reached */
    public SpoolWriter open() throws IOException {
        ensureOpen();
        synchronized (reservations) {
            if (messages.size() + openWriters >= settings.maxMessages()) {
                throw new SpoolFullException("the spool holds " + settings.maxMessages() + " messages (spool.max_messages)");
            }
            openWriters++;
        }
        SpoolId id = ids.next();
        Path reusable = recycled.take();
        if (reusable != null) {
            try {
                return new SpoolWriter(this, id, reusable, files.reuse(reusable), true);
            } catch (IOException | RuntimeException e) {
                log.warn("spool: could not reuse {}, creating a new file instead: {}", reusable, e.toString());
                deleteQuietly(reusable);
            }
        }
        Path temp = layout.tmp().resolve(id.value() + SpoolLayout.MESSAGE);
        try {
            return new SpoolWriter(this, id, temp, files.create(temp), false);
        } catch (IOException | RuntimeException e) {
            releaseWriter(0);
            throw e;
        }
    }

    /** Counts bytes a writer is about to write against {@code max_size}. */
    void account(long bytes) throws SpoolFullException {
        long now = usedBytes.addAndGet(bytes);
        if (now > settings.maxSize()) {
            usedBytes.addAndGet(-bytes);
            throw new SpoolFullException("the spool holds " + settings.maxSize() + " bytes (spool.max_size)");
        }
    }

    /** A writer's message will not be: a new file goes, a reused one is ready for the next message again. */
    void discard(Path path, SpoolFiles.WritableFile file, boolean reused, long size) {
        closeQuietly(file);
        if (reused) {
            recycled.giveBack(path);
        } else {
            deleteQuietly(path);
        }
        releaseWriter(size);
    }

    private void releaseWriter(long size) {
        usedBytes.addAndGet(-size);
        synchronized (reservations) {
            openWriters--;
        }
    }

    /**
     * Appends the envelope to the writer's file (cutting off what a reused file held beyond it) and
     * hands the file to the fsync: of the batch with group commit, else on this thread.
     */
    CompletableFuture<SpoolEnvelope> commit(SpoolId id, Path path, SpoolFiles.WritableFile file, boolean reused,
            long size, MessageDraft draft) {
        Instant now = Instant.now(clock);
        SpoolEnvelope envelope = new SpoolEnvelope(id, now, draft.listener(), draft.sessionId(), draft.clientFacts(),
                draft.sender(), draft.senderParameters(), draft.recipients(), size, 0, now, null);
        PendingCommit commit = new PendingCommit(envelope, path, file);
        try {
            ensureOpen();
            byte[] trailer = MessageFile.trailer(envelope);
            file.write(ByteBuffer.wrap(trailer));
            if (reused) {
                file.truncate(size + trailer.length);
            }
        } catch (IOException | RuntimeException e) {
            commit.failure = e;
            fail(commit);
            return commit.future;
        }
        if (committer != null) {
            committer.submit(commit);
        } else {
            try {
                commit.syncFile();
            } catch (IOException | RuntimeException e) {
                commit.failure = e;
            }
            publishBatch(List.of(commit));
        }
        return commit.future;
    }

    /** The second half of a commit, for a batch whose files are synced (or carry the failure); whether it fsynced queue/. */
    private boolean publishBatch(List<PendingCommit> batch) {
        List<PendingCommit> published = new ArrayList<>(batch.size());
        for (PendingCommit commit : batch) {
            if (commit.failure != null) {
                fail(commit);
                continue;
            }
            try {
                files.rename(commit.path, layout.message(commit.envelope.id()));
                commit.published = true;
                published.add(commit);
            } catch (IOException | RuntimeException e) {
                commit.failure = e;
                fail(commit);
            }
        }
        if (published.isEmpty()) {
            return false;
        }
        try {
            syncQueue();
        } catch (IOException | RuntimeException e) {
            for (PendingCommit commit : published) {
                commit.failure = e;
                fail(commit);
            }
            return false;
        }
        for (PendingCommit commit : published) {
            SpoolEnvelope envelope = commit.envelope;
            messages.put(envelope.id(), envelope);
            synchronized (reservations) {
                openWriters--;
            }
            // The listener first: once a commit completes (the sender's 250), the scheduler already
            // knows of the message, whatever runs next.
            try {
                committedListener.accept(envelope);
            } catch (RuntimeException e) {
                log.warn("spool: the commit listener failed for {}", envelope.id(), e);
            }
            commit.future.complete(envelope);
        }
        return true;
    }

    /** Makes removals durable when no commit batch did it for them. */
    private void syncQueueAfterRemovals() {
        try {
            syncQueue();
        } catch (IOException | RuntimeException e) {
            // The renames and unlinks are done; until an fsync of queue/ succeeds, a crash may bring a
            // delivered message back, to be sent again: the documented duplicate window, never a loss.
            // Its file is not overwritten meanwhile: it stays awaiting that fsync.
            log.warn("spool: could not fsync {} after removals: {}", layout.queue(), e.toString());
        }
    }

    /**
     * Fsyncs {@code queue/}, which makes its renames and unlinks durable; the files freed before it
     * started are then safe to overwrite.
     */
    private void syncQueue() throws IOException {
        long mark = recycled.beforeDirectorySync();
        files.syncDirectory(layout.queue());
        recycled.directorySynced(mark);
    }

    /** A commit that will not complete: its file goes, from queue/ too, and it fails. */
    private void fail(PendingCommit commit) {
        closeQuietly(commit.file);
        deleteQuietly(commit.path);
        if (commit.published) {
            deleteQuietly(layout.message(commit.envelope.id()));
        }
        releaseWriter(commit.envelope.contentSize());
        commit.future.completeExceptionally(commit.failure);
    }

    /** The messages, in arrival order (a snapshot). */
    public List<SpoolEnvelope> envelopes() {
        return new ArrayList<>(messages.values());
    }

    public Optional<SpoolEnvelope> envelope(SpoolId id) {
        return Optional.ofNullable(messages.get(id));
    }

    public SpooledMessage message(SpoolId id) {
        SpoolEnvelope envelope = messages.get(id);
        return envelope == null ? null : new SpooledMessage(envelope, layout.message(id));
    }

    /** The content as it will be sent, streamed from disk (without the trailer). */
    public InputStream openContent(SpoolId id) throws IOException {
        SpoolEnvelope envelope = messages.get(id);
        if (envelope == null) {
            throw new NoSuchFileException(layout.message(id).toString(), null, "no such message in the spool");
        }
        return layout.openContent(envelope);
    }

    /**
     * Replaces a message's envelope durably: the new one is written and fsynced in {@code tmp/},
     * renamed to {@code queue/ID.env} (over the previous change, if any; from then on it wins over
     * the envelope in the message file), and {@code queue/} is fsynced. A crash leaves the old or
     * the new.
     */
    public void update(SpoolEnvelope envelope) throws IOException {
        ensureOpen();
        SpoolId id = envelope.id();
        if (!messages.containsKey(id)) {
            throw new NoSuchFileException(layout.message(id).toString(), null, "no such message in the spool");
        }
        Path temp = layout.tmp().resolve(id.value() + SpoolLayout.ENVELOPE + "." + tempCounter.incrementAndGet());
        try (SpoolFiles.WritableFile file = files.create(temp)) {
            file.write(ByteBuffer.wrap(EnvelopeCodec.encode(envelope)));
            file.sync();
        } catch (IOException | RuntimeException e) {
            deleteQuietly(temp);
            throw e;
        }
        try {
            files.rename(temp, layout.envelope(id));
        } catch (IOException | RuntimeException e) {
            deleteQuietly(temp);
            throw e;
        }
        sidecars.add(id);
        messages.put(id, envelope);
        syncQueue();
    }

    /**
     * Removes a finished message: its file leaves {@code queue/} first (to {@code free/}, kept to be
     * overwritten by a later message, or unlinked), then its changed envelope if it has one, so a
     * crash in between leaves an orphan envelope, not a message. With group commit the fsync of
     * {@code queue/} that makes the removal durable is shared with the next commit batch (or the
     * removals around it) rather than one per message: until then a crash brings the message back
     * and it is sent again, which widens the duplicate window after the upstream's 250 by about one
     * batch; it never loses anything. The file is not overwritten before that fsync.
     */
    public void remove(SpoolId id) throws IOException {
        ensureOpen();
        SpoolEnvelope envelope = messages.get(id);
        if (envelope == null) {
            return;
        }
        Path file = layout.message(id);
        if (recycled.accepts(envelope.contentSize())) {
            Path kept = layout.free().resolve(file.getFileName());
            files.rename(file, kept);
            recycled.freed(kept);
        } else {
            files.delete(file);
        }
        messages.remove(id);
        usedBytes.addAndGet(-envelope.contentSize());
        if (sidecars.remove(id)) {
            deleteQuietly(layout.envelope(id));
        }
        if (committer != null) {
            committer.removed();
        } else {
            syncQueue();
        }
    }

    /** Moves a message to {@code deleted/} (the operator's delete): its file first, then its changed envelope. */
    public boolean moveToDeleted(SpoolId id) throws IOException {
        ensureOpen();
        SpoolEnvelope envelope = messages.get(id);
        if (envelope == null) {
            return false;
        }
        files.rename(layout.message(id), layout.deleted().resolve(id.value() + SpoolLayout.MESSAGE));
        messages.remove(id);
        usedBytes.addAndGet(-envelope.contentSize());
        if (sidecars.remove(id)) {
            files.rename(layout.envelope(id), layout.deleted().resolve(id.value() + SpoolLayout.ENVELOPE));
        }
        syncQueue();
        files.syncDirectory(layout.deleted());
        return true;
    }

    public int depth() {
        return messages.size();
    }

    public long bytes() {
        return usedBytes.get();
    }

    /**
     * The arrival of the message with the lowest id: ids are handed out in order as writers open,
     * so this is the oldest but for messages whose writers opened within the same moments.
     */
    public Optional<Instant> oldestArrival() {
        Map.Entry<SpoolId, SpoolEnvelope> first = messages.firstEntry();
        return first == null ? Optional.empty() : Optional.of(first.getValue().arrival());
    }

    public Collection<SpoolId> ids() {
        return List.copyOf(messages.keySet());
    }

    /** Finishes the commits already submitted, then releases the directory. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (committer != null) {
                committer.stop();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.release();
            lockChannel.close();
        }
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("the spool is closed");
        }
    }

    private static void closeQuietly(SpoolFiles.WritableFile file) {
        try {
            file.close();
        } catch (IOException | RuntimeException e) {
            // Closing after a failure: the file is deleted next; nothing to add.
        }
    }

    private void deleteQuietly(Path file) {
        try {
            files.delete(file);
        } catch (IOException | RuntimeException e) {
            // Left for recovery: tmp/ and free/ are emptied at the next start, and an envelope
            // without its message file is deleted.
            log.warn("spool: could not delete {}: {}", file, e.toString());
        }
    }
}
