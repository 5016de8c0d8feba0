package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Requests from the {@code queue} command to the process that owns the spool, as empty files in
 * {@code control/} ({@code retry-ID}, {@code retry-all}, {@code delete-ID}). The owner alone changes
 * envelopes, so an operator's retry can never overwrite a delivery result it did not see, and a
 * delete cannot race an attempt: the owner applies it between attempts (or right after the one in
 * flight). Creating a file is atomic; the owner deletes it once applied.
 */
public final class SpoolControl {

    /** What an operator asked for; {@code id} null means every message. */
    public record Request(Action action, SpoolId id, Path file) {
    }

    public enum Action {
        RETRY, DELETE
    }

    private static final String ALL = "all";

    private final SpoolLayout layout;

    public SpoolControl(SpoolLayout layout) {
        this.layout = layout;
    }

    public void requestRetry(SpoolId id) throws IOException {
        create("retry-" + (id == null ? ALL : id.value()));
    }

    public void requestDelete(SpoolId id) throws IOException {
        create("delete-" + id.value());
    }

    /** True while the request is waiting for the owner. */
    public boolean pending(Action action, SpoolId id) {
        return Files.exists(layout.control().resolve(name(action, id)));
    }

    /** When {@code control/} last changed (a request made or done): a cheap check before listing it. */
    FileTime lastModified() throws IOException {
        return Files.getLastModifiedTime(layout.control());
    }

    List<Request> requests() throws IOException {
        List<Request> requests = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(layout.control())) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                int dash = name.indexOf('-');
                Action action = dash < 0 ? null : switch (name.substring(0, dash)) {
                    case "retry" -> Action.RETRY;
                    case "delete" -> Action.DELETE;
                    default -> null;
                };
                String target = dash < 0 ? "" : name.substring(dash + 1);
                SpoolId id = SpoolId.parseOrNull(target);
                if (action == null || (id == null && !(action == Action.RETRY && target.equals(ALL)))) {
                    Files.deleteIfExists(entry); // not ours to act on; a stray file must not be re-read forever
                    continue;
                }
                requests.add(new Request(action, id, entry));
            }
        }
        // Deletes first: a retry of a message also being deleted must not send it.
        requests.sort((a, b) -> a.action() == b.action() ? 0 : a.action() == Action.DELETE ? -1 : 1);
        return requests;
    }

    void done(Request request) throws IOException {
        Files.deleteIfExists(request.file());
    }

    private void create(String name) throws IOException {
        try {
            Files.createFile(layout.control().resolve(name));
        } catch (FileAlreadyExistsException e) {
            // already requested
        }
    }

    private static String name(Action action, SpoolId id) {
        return (action == Action.RETRY ? "retry-" : "delete-") + (id == null ? ALL : id.value());
    }
}
