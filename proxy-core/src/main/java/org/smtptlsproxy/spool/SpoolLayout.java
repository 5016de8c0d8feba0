package org.smtptlsproxy.spool;

import java.io.IOException;
import java.io.InputStream;
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
 * tmp/            files being created, envelope updates being written; never a message; emptied at start
 * free/           files of delivered messages kept to be overwritten by new ones (where they lie, until
 *                 the commit renames them into queue/); never read; emptied at start
 * queue/ID.msg    the message ({@link MessageFile}): its content, dot-unstuffed octets as they will be
 *                 sent, Received: included, then its envelope as committed; its presence is what
 *                 makes ID a message
 * queue/ID.env    the envelope after a change (attempts, results per recipient), {@link EnvelopeCodec};
 *                 when present it wins over the one in ID.msg
 * control/        requests from the queue command to the running proxy (retry, delete)
 * corrupt/        files that could not be read at start, moved aside, never dropped
 * deleted/        messages an operator deleted
 * </pre>
 *
 * A message reaches {@code queue/} by one rename (from {@code tmp/} or {@code free/}) after its
 * file is fsynced, and leaves it the same way, ID.msg first: an ID.env without its ID.msg is an
 * interrupted removal.
 */
public final class SpoolLayout {

    static final String MESSAGE = ".msg";
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

    Path free() {
        return root.resolve("free");
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

    Path message(SpoolId id) {
        return queue().resolve(id.value() + MESSAGE);
    }

    Path envelope(SpoolId id) {
        return queue().resolve(id.value() + ENVELOPE);
    }

    void createDirectories() throws IOException {
        for (Path directory : List.of(root, tmp(), free(), queue(), control(), corrupt(), deleted())) {
            Files.createDirectories(directory);
        }
    }

    /** True when the directory looks like a spool (its queue directory exists). */
    public boolean exists() {
        return Files.isDirectory(queue());
    }

    /** The envelopes of the messages in {@code queue/}, in id (arrival) order; unreadable ones are skipped here. */
    public List<SpoolEnvelope> readEnvelopes() throws IOException {
        List<SpoolEnvelope> envelopes = new ArrayList<>();
        for (SpoolId id : ids(MESSAGE)) {
            try {
                readEnvelope(id).ifPresent(envelopes::add);
            } catch (CorruptSpoolFileException e) {
                // The owning store moves it aside at its next start; a reader only skips it.
            }
        }
        return envelopes;
    }

    /** The ids of the files in {@code queue/} named ID{@code extension}, sorted. */
    List<SpoolId> ids(String extension) throws IOException {
        List<SpoolId> ids = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(queue(), "*" + extension)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                SpoolId id = SpoolId.parseOrNull(name.substring(0, name.length() - extension.length()));
                if (id != null) {
                    ids.add(id);
                }
            }
        }
        ids.sort(null);
        return ids;
    }

    /**
     * The envelope of {@code id}: its sidecar when it has one, else its message file's trailer;
     * empty when there is no such message (any more).
     */
    public Optional<SpoolEnvelope> readEnvelope(SpoolId id) throws IOException, CorruptSpoolFileException {
        if (!Files.exists(message(id))) {
            return Optional.empty();
        }
        try {
            return Optional.of(EnvelopeCodec.decode(Files.readAllBytes(envelope(id)), id.value() + ENVELOPE));
        } catch (NoSuchFileException e) {
            // no change since the commit: the trailer holds the envelope
        }
        try {
            return Optional.of(MessageFile.readTrailer(message(id)));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /**
     * The content of a message as it will be sent (show, delivery): a stream that stops where the
     * envelope's content size says, before the trailer.
     */
    public InputStream openContent(SpoolEnvelope envelope) throws IOException {
        return MessageFile.openContent(message(envelope.id()), envelope.contentSize());
    }

    /**
     * Whether {@code id} is still a message in {@code queue/}. A reader outside the owning process
     * asks this after reading content: a message file leaves {@code queue/} before it can be
     * overwritten for another message, so content read while this stayed true is the message's.
     */
    public boolean holds(SpoolId id) {
        return Files.exists(message(id));
    }
}
