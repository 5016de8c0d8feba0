package org.smtptlsproxy.spool;

import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * Streams one message's content into its file through a bounded buffer (memory does not grow with
 * the message), then {@link #commit} makes it a durable message. The file is new in {@code tmp/},
 * or the file of a delivered message in {@code free/} overwritten in place. Not thread-safe: one
 * session writes it. Writes are plain page-cache writes; the slow fsync happens in {@link #commit}'s
 * batch, off the caller's thread.
 *
 * <p>Until {@link #commit} is called, {@link #close()} (or {@link #abort()}) discards the file (a
 * reused one goes back to {@code free/}): a message that did not reach its 250 never becomes one.
 */
public final class SpoolWriter implements AutoCloseable {

    private static final int BUFFER_BYTES = 64 * 1024;

    private final SpoolStore store;
    private final SpoolId id;
    private final Path path;
    private final SpoolFiles.WritableFile file;
    private final boolean reused;
    private final ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES);
    private long size;
    private boolean done;

    SpoolWriter(SpoolStore store, SpoolId id, Path path, SpoolFiles.WritableFile file, boolean reused) {
        this.store = store;
        this.id = id;
        this.path = path;
        this.file = file;
        this.reused = reused;
    }

    public SpoolId id() {
        return id;
    }

    /** Bytes written so far. */
    public long size() {
        return size;
    }

    /** Appends the buffer's readable bytes; the caller keeps ownership (this does not release it). */
    public void write(ByteBuf content) throws IOException {
        int length = content.readableBytes();
        if (content.nioBufferCount() == 1) {
            write(content.nioBuffer(content.readerIndex(), length));
        } else {
            for (ByteBuffer part : content.nioBuffers(content.readerIndex(), length)) {
                write(part);
            }
        }
    }

    public void write(byte[] bytes, int offset, int length) throws IOException {
        write(ByteBuffer.wrap(bytes, offset, length));
    }

    public void write(byte[] bytes) throws IOException {
        write(bytes, 0, bytes.length);
    }

    private void write(ByteBuffer bytes) throws IOException {
        ensureOpen();
        try {
            store.account(bytes.remaining());
            size += bytes.remaining();
            while (bytes.hasRemaining()) {
                if (!buffer.hasRemaining()) {
                    flush();
                }
                int chunk = Math.min(buffer.remaining(), bytes.remaining());
                ByteBuffer slice = bytes.duplicate();
                slice.limit(slice.position() + chunk);
                buffer.put(slice);
                bytes.position(bytes.position() + chunk);
            }
        } catch (IOException | RuntimeException e) {
            abort();
            throw e;
        }
    }

    private void flush() throws IOException {
        buffer.flip();
        file.write(buffer);
        buffer.clear();
    }

    /**
     * Makes the message durable with this envelope. The future completes (on the store's commit
     * thread: do not block in its callbacks) once the file (content, then the envelope appended to
     * it) and its directory entry are fsynced,
     * which is the moment to answer 250; it fails with the cause otherwise (an {@link IOException}
     * such as a full disk), and then nothing of the message is left behind.
     */
    public CompletableFuture<SpoolEnvelope> commit(MessageDraft draft) {
        if (done) {
            return CompletableFuture.failedFuture(new IOException("spool writer " + id + " is closed"));
        }
        try {
            flush();
        } catch (IOException | RuntimeException e) {
            abort();
            return CompletableFuture.failedFuture(e);
        }
        done = true;
        return store.commit(id, path, file, reused, size, draft);
    }

    /** Discards the message and its file. Safe to call more than once and after commit. */
    public void abort() {
        if (done) {
            return;
        }
        done = true;
        store.discard(path, file, reused, size);
    }

    @Override
    public void close() {
        abort();
    }

    private void ensureOpen() throws IOException {
        if (done) {
            throw new IOException("spool writer " + id + " is closed");
        }
    }
}
