package org.smtptlsproxy.spool;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The envelope encoding, version 1: in a message file after the content ({@link MessageFile}), and the
 * whole of its sidecar {@code ID.env} once the envelope changed. Big-endian, binary, self-checking:
 *
 * <pre>
 * magic     4 bytes  "SPEV"
 * version   int32    1
 * length    int32    bytes of body (at most 4 MiB)
 * body:
 *   id, listener, session id, client facts, sender, sender parameters     string each
 *   arrival ms, content size                                                int64 each
 *   attempts                                                                int32
 *   next attempt ms                                                         int64
 *   last reply                                                              string or null
 *   recipients                                                              int32 count, then each:
 *     address, parameters  string each; state int8 (0 pending, 1 delivered, 2 failed);
 *     last reply string or null
 * crc       int32    CRC32C of magic, version, length and body
 * </pre>
 *
 * A string is an int32 byte count (-1 for null) and that many bytes of UTF-8. Anything that does
 * not parse exactly, including trailing bytes or a wrong CRC, is {@link CorruptSpoolFileException}:
 * a torn or damaged envelope is never read as a different one.
 */
final class EnvelopeCodec {

    private static final int MAGIC = 0x53504556; // "SPEV"
    static final int VERSION = 1;
    private static final int MAX_BODY = 4 << 20;
    /** The longest encoding: magic, version, length, body and CRC. */
    static final int MAX_ENCODED = MAX_BODY + 16;

    private EnvelopeCodec() {
    }

    static byte[] encode(SpoolEnvelope envelope) {
        try {
            ByteArrayOutputStream bodyBytes = new ByteArrayOutputStream(256 + envelope.recipients().size() * 96);
            DataOutputStream body = new DataOutputStream(bodyBytes);
            writeString(body, envelope.id().value());
            writeString(body, envelope.listener());
            writeString(body, envelope.sessionId());
            writeString(body, envelope.clientFacts());
            writeString(body, envelope.sender());
            writeString(body, envelope.senderParameters());
            body.writeLong(envelope.arrival().toEpochMilli());
            body.writeLong(envelope.contentSize());
            body.writeInt(envelope.attempts());
            body.writeLong(envelope.nextAttempt().toEpochMilli());
            writeString(body, envelope.lastReply());
            body.writeInt(envelope.recipients().size());
            for (SpoolRecipient recipient : envelope.recipients()) {
                writeString(body, recipient.address());
                writeString(body, recipient.parameters());
                body.writeByte(recipient.state().ordinal());
                writeString(body, recipient.lastReply());
            }
            body.flush();
            ByteArrayOutputStream fileBytes = new ByteArrayOutputStream(bodyBytes.size() + 16);
            DataOutputStream file = new DataOutputStream(fileBytes);
            file.writeInt(MAGIC);
            file.writeInt(VERSION);
            file.writeInt(bodyBytes.size());
            bodyBytes.writeTo(file);
            file.flush();
            CRC32C crc = new CRC32C();
            byte[] withoutCrc = fileBytes.toByteArray();
            crc.update(withoutCrc);
            file.writeInt((int) crc.getValue());
            file.flush();
            return fileBytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array does not fail
        }
    }

    static SpoolEnvelope decode(byte[] bytes, String fileName) throws CorruptSpoolFileException {
        if (bytes.length < 16) {
            throw new CorruptSpoolFileException(fileName, "envelope too short (" + bytes.length + " bytes)");
        }
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
            if (in.readInt() != MAGIC) {
                throw new CorruptSpoolFileException(fileName, "not an envelope file (bad magic)");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new CorruptSpoolFileException(fileName, "envelope version " + version + " is not supported");
            }
            int length = in.readInt();
            if (length < 0 || length > MAX_BODY || length != bytes.length - 16) {
                throw new CorruptSpoolFileException(fileName, "envelope length " + length + " does not match the file");
            }
            CRC32C crc = new CRC32C();
            crc.update(bytes, 0, bytes.length - 4);
            int stored = ((bytes[bytes.length - 4] & 0xff) << 24) | ((bytes[bytes.length - 3] & 0xff) << 16)
                    | ((bytes[bytes.length - 2] & 0xff) << 8) | (bytes[bytes.length - 1] & 0xff);
            if (stored != (int) crc.getValue()) {
                throw new CorruptSpoolFileException(fileName, "envelope checksum mismatch");
            }
            SpoolId id = SpoolId.parseOrNull(readString(in, fileName));
            if (id == null) {
                throw new CorruptSpoolFileException(fileName, "envelope holds no valid id");
            }
            String listener = readString(in, fileName);
            String sessionId = readString(in, fileName);
            String clientFacts = readString(in, fileName);
            String sender = readString(in, fileName);
            String senderParameters = readString(in, fileName);
            Instant arrival = Instant.ofEpochMilli(in.readLong());
            long contentSize = in.readLong();
            int attempts = in.readInt();
            Instant nextAttempt = Instant.ofEpochMilli(in.readLong());
            String lastReply = readNullableString(in, fileName);
            int count = in.readInt();
            if (count < 1 || count > length / 13) {
                throw new CorruptSpoolFileException(fileName, "envelope recipient count " + count + " is impossible");
            }
            List<SpoolRecipient> recipients = new ArrayList<>(count);
            RecipientState[] states = RecipientState.values();
            for (int i = 0; i < count; i++) {
                String address = readString(in, fileName);
                String parameters = readString(in, fileName);
                int state = in.readByte();
                if (state < 0 || state >= states.length) {
                    throw new CorruptSpoolFileException(fileName, "recipient state " + state + " is unknown");
                }
                recipients.add(new SpoolRecipient(address, parameters, states[state], readNullableString(in, fileName)));
            }
            if (in.available() != 4) {
                throw new CorruptSpoolFileException(fileName, "envelope has trailing bytes");
            }
            if (sender == null || senderParameters == null || listener == null || sessionId == null || clientFacts == null) {
                throw new CorruptSpoolFileException(fileName, "envelope lacks a required field");
            }
            return new SpoolEnvelope(id, arrival, listener, sessionId, clientFacts, sender, senderParameters,
                    recipients, contentSize, attempts, nextAttempt, lastReply);
        } catch (EOFException e) {
            throw new CorruptSpoolFileException(fileName, "envelope ends early");
        } catch (IOException | RuntimeException e) {
            throw new CorruptSpoolFileException(fileName, "envelope does not parse: " + e.getMessage());
        }
    }

    private static void writeString(DataOutputStream out, String value) throws IOException {
        if (value == null) {
            out.writeInt(-1);
            return;
        }
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private static String readString(DataInputStream in, String fileName) throws IOException, CorruptSpoolFileException {
        String value = readNullableString(in, fileName);
        if (value == null) {
            throw new CorruptSpoolFileException(fileName, "envelope lacks a required field");
        }
        return value;
    }

    private static String readNullableString(DataInputStream in, String fileName)
            throws IOException, CorruptSpoolFileException {
        int length = in.readInt();
        if (length == -1) {
            return null;
        }
        if (length < 0 || length > in.available()) {
            throw new CorruptSpoolFileException(fileName, "envelope string length " + length + " is impossible");
        }
        byte[] bytes = in.readNBytes(length);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
