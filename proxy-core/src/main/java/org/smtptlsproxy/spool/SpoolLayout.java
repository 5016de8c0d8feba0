package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The spool directory's layout, shared by the store in the running proxy and the {@code queue}
 * command:
 *
 * <pre>
 * spool.lock      held (fcntl lock) by the one process that owns the spool, normally the proxy
 * tmp/            files being written; never a message; emptied at start
 * queue/ID.data   the content: dot-unstuffed octets as they will be sent, Received: included
 * queue/ID.env    the envelope ({@link EnvelopeCodec}); its presence is what makes ID a message
 * control/        requests from the queue command to the running proxy (retry, delete)
 * corrupt/        files that could not be read at start, moved aside, never dropped
 * deleted/        messages an operator deleted
 * </pre>
 *
 * A message's files reach {@code queue/} by rename from {@code tmp/}, data first, envelope last,
 * and leave it envelope first: a data file without its envelope is an interrupted commit or removal.
 */
public final class SpoolLayout {

    static final String DATA = ".data";
    static final String ENVELOPE = ".env";

    private final Path root;

    public SpoolLayout(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    Path lockFile() {
        return root.resolve("spool.lock");
    }

    Path tmp() {
        return root.resolve("tmp");
    }

    Path queue() {
        return root.resolve("queue");
    }

    Path control() {
        return root.resolve("control");
    }

    Path corrupt() {
        return root.resolve("corrupt");
    }

    Path deleted() {
        return root.resolve("deleted");
    }

    Path data(SpoolId id) {
        return queue().resolve(id.value() + DATA);
    }

    Path envelope(SpoolId id) {
        return queue().resolve(id.value() + ENVELOPE);
    }

    void createDirectories() throws IOException {
        for (Path directory : List.of(root, tmp(), queue(), control(), corrupt(), deleted())) {
            Files.createDirectories(directory);
        }
    }

    /** True when the directory looks like a spool (its queue directory exists). */
    public boolean exists() {
        return Files.isDirectory(queue());
    }

    /** The envelopes in {@code queue/}, in id (arrival) order; unreadable ones are skipped here. */
    public List<SpoolEnvelope> readEnvelopes() throws IOException {
        List<SpoolEnvelope> envelopes = new ArrayList<>();
        for (SpoolId id : envelopeIds()) {
            try {
                readEnvelope(id).ifPresent(envelopes::add);
            } catch (CorruptSpoolFileException e) {
                // The owning store moves it aside at its next start; a reader only skips it.
            }
        }
        return envelopes;
    }

    List<SpoolId> envelopeIds() throws IOException {
        List<SpoolId> ids = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(queue(), "*" + ENVELOPE)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                SpoolId id = SpoolId.parseOrNull(name.substring(0, name.length() - ENVELOPE.length()));
                if (id != null) {
                    ids.add(id);
                }
            }
        }
        ids.sort(null);
        return ids;
    }

    /** The envelope of {@code id}; empty when there is no such message (any more). */
    public Optional<SpoolEnvelope> readEnvelope(SpoolId id) throws IOException, CorruptSpoolFileException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(envelope(id));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        return Optional.of(EnvelopeCodec.decode(bytes, id.value() + ENVELOPE));
    }

    /** The content file of a message, for reading (show, delivery). */
    public Path contentFile(SpoolId id) {
        return data(id);
    }
}
