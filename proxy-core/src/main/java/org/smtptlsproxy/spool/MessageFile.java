package org.smtptlsproxy.spool;

import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A message's one file, {@code queue/ID.msg}: the content (dot-unstuffed octets as they will be
 * sent), then the envelope as it was at commit, then a fixed tail that says where that envelope
 * starts:
 *
 * <pre>
 * content    contentSize bytes
 * envelope   the {@link EnvelopeCodec} bytes (their own magic, length and CRC32C)
 * length     int32    bytes of envelope
 * magic      4 bytes  "SPMT"
 * </pre>
 *
 * The file is read from its end: the tail gives the envelope, and the content is whatever precedes
 * it, which must be exactly the envelope's content size. Anything else is a
 * {@link CorruptSpoolFileException}; a file cut short or reused never reads as another message.
 */
final class MessageFile {

    static final int TAIL_BYTES = 8;
    private static final int MAGIC = 0x53504D54; // "SPMT"

    private MessageFile() {
    }

    /** What follows the content at commit. */
    static byte[] trailer(SpoolEnvelope envelope) {
        byte[] encoded = EnvelopeCodec.encode(envelope);
        ByteBuffer trailer = ByteBuffer.allocate(encoded.length + TAIL_BYTES);
        trailer.put(encoded).putInt(encoded.length).putInt(MAGIC);
        return trailer.array();
    }

    /** The envelope in the file's trailer, checked against the file's size. */
    static SpoolEnvelope readTrailer(Path file) throws IOException, CorruptSpoolFileException {
        String name = file.getFileName().toString();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < TAIL_BYTES) {
                throw new CorruptSpoolFileException(name, "message file too short (" + size + " bytes)");
            }
            ByteBuffer tail = readFully(channel, size - TAIL_BYTES, TAIL_BYTES, name);
            int length = tail.getInt();
            if (tail.getInt() != MAGIC) {
                throw new CorruptSpoolFileException(name, "not a message file (bad trailer magic)");
            }
            if (length < 16 || length > EnvelopeCodec.MAX_ENCODED || length > size - TAIL_BYTES) {
                throw new CorruptSpoolFileException(name, "trailer length " + length + " does not match the file");
            }
            long contentSize = size - TAIL_BYTES - length;
            SpoolEnvelope envelope = EnvelopeCodec.decode(readFully(channel, contentSize, length, name).array(), name);
            if (envelope.contentSize() != contentSize) {
                throw new CorruptSpoolFileException(name,
                        "content is " + contentSize + " bytes, the envelope says " + envelope.contentSize());
            }
            return envelope;
        }
    }

    /**
     * The content alone, for reading: a stream that ends after {@code contentSize} bytes, before the
     * trailer. A file that ends sooner fails the read rather than passing for a shorter message.
     */
    static InputStream openContent(Path file, long contentSize) throws IOException {
        return new ContentStream(Files.newInputStream(file), contentSize, file.getFileName().toString());
    }

    private static ByteBuffer readFully(FileChannel channel, long position, int length, String name)
            throws IOException, CorruptSpoolFileException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new CorruptSpoolFileException(name, "message file shrank while read");
            }
        }
        return buffer.flip();
    }

    private static final class ContentStream extends FilterInputStream {

        private final String name;
        private long remaining;

        ContentStream(InputStream in, long contentSize, String name) {
            super(in);
            this.remaining = contentSize;
            this.name = name;
        }

        @Override
        public int read() throws IOException {
            if (remaining == 0) {
                return -1;
            }
            int b = in.read();
            if (b < 0) {
                throw endsEarly();
            }
            remaining--;
            return b;
        }

        @Override
        public int read(byte[] bytes, int offset, int length) throws IOException {
            if (length == 0) {
                return 0;
            }
            if (remaining == 0) {
                return -1;
            }
            int n = in.read(bytes, offset, (int) Math.min(length, remaining));
            if (n < 0) {
                throw endsEarly();
            }
            remaining -= n;
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = in.skip(Math.min(Math.max(n, 0), remaining));
            remaining -= skipped;
            return skipped;
        }

        @Override
        public int available() throws IOException {
            return (int) Math.min(in.available(), remaining);
        }

        @Override
        public boolean markSupported() {
            return false;
        }

        @Override
        public synchronized void mark(int readLimit) {
            // not supported: a reset could not restore the count
        }

        @Override
        public synchronized void reset() throws IOException {
            throw new IOException("mark/reset not supported");
        }

        private EOFException endsEarly() {
            return new EOFException(name + " ends " + remaining + " bytes before its content does");
        }
    }
}
