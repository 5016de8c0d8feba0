package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scan at start, before anything is accepted: files in {@code tmp/} are deleted (none got a
 * 250), so are those kept in {@code free/} for reuse; an envelope sidecar without its message file
 * is deleted (an interrupted removal); anything unreadable (a message file whose trailer does not
 * check or whose size disagrees with it, a sidecar of another message, a name that is no message)
 * is moved to {@code corrupt/} and reported, never dropped.
 */
final class SpoolRecovery {

    private static final Logger log = LoggerFactory.getLogger(SpoolRecovery.class);

    private final SpoolLayout layout;
    private final SpoolFiles files;
    private final SpoolMetrics metrics;

    SpoolRecovery(SpoolLayout layout, SpoolFiles files, SpoolMetrics metrics) {
        this.layout = layout;
        this.files = files;
        this.metrics = metrics;
    }

    /** Fills {@code into} with the messages and {@code sidecars} with those whose envelope is a sidecar. */
    RecoveryReport run(Map<SpoolId, SpoolEnvelope> into, Set<SpoolId> sidecars) throws IOException {
        int temps = 0;
        for (Path temp : list(layout.tmp())) {
            files.delete(temp);
            temps++;
        }
        for (Path kept : list(layout.free())) {
            files.delete(kept); // a delivered message's file, or one a crash caught being overwritten
        }
        Set<SpoolId> messageIds = new TreeSet<>();
        Set<SpoolId> envelopeIds = new TreeSet<>();
        List<String> corrupt = new ArrayList<>();
        for (Path entry : list(layout.queue())) {
            String name = entry.getFileName().toString();
            SpoolId id = idOf(name, SpoolLayout.MESSAGE);
            if (id != null) {
                messageIds.add(id);
                continue;
            }
            id = idOf(name, SpoolLayout.ENVELOPE);
            if (id != null) {
                envelopeIds.add(id);
                continue;
            }
            moveAside(name);
            corrupt.add(name + ": not a spool file");
            metrics.corruptMovedAside();
            log.error("spool: {} is not a spool file; moved to {}", name, layout.corrupt());
        }
        for (SpoolId id : messageIds) {
            boolean hasSidecar = envelopeIds.remove(id);
            try {
                into.put(id, read(id, hasSidecar));
                if (hasSidecar) {
                    sidecars.add(id);
                }
            } catch (CorruptSpoolFileException e) {
                moveAside(id.value() + SpoolLayout.MESSAGE);
                moveAside(id.value() + SpoolLayout.ENVELOPE);
                corrupt.add(e.getMessage());
                metrics.corruptMovedAside();
                log.error("spool: {}; moved to {} for inspection", e.getMessage(), layout.corrupt());
            }
        }
        int orphans = 0;
        for (SpoolId id : envelopeIds) {
            files.delete(layout.envelope(id));
            orphans++;
        }
        files.syncDirectory(layout.queue());
        if (!corrupt.isEmpty()) {
            files.syncDirectory(layout.corrupt());
        }
        RecoveryReport report = new RecoveryReport(into.size(), temps, orphans, corrupt);
        if (temps > 0 || orphans > 0 || !corrupt.isEmpty()) {
            log.warn("spool: recovered {} messages from {}; deleted {} unfinished writes and {} envelopes of removed "
                    + "messages; moved {} corrupt files aside", report.recovered(), layout.root(), temps, orphans,
                    corrupt.size());
        }
        return report;
    }

    /** The message's envelope: the sidecar when there is one (it must be of the same message), else the trailer. */
    private SpoolEnvelope read(SpoolId id, boolean hasSidecar) throws IOException, CorruptSpoolFileException {
        String name = id.value() + SpoolLayout.MESSAGE;
        SpoolEnvelope committed;
        try {
            committed = MessageFile.readTrailer(layout.message(id));
        } catch (NoSuchFileException e) {
            throw new CorruptSpoolFileException(name, "vanished during the scan");
        }
        if (!committed.id().equals(id)) {
            throw new CorruptSpoolFileException(name, "holds the message " + committed.id());
        }
        if (!hasSidecar) {
            return committed;
        }
        String sidecarName = id.value() + SpoolLayout.ENVELOPE;
        SpoolEnvelope changed;
        try {
            changed = EnvelopeCodec.decode(Files.readAllBytes(layout.envelope(id)), sidecarName);
        } catch (NoSuchFileException e) {
            throw new CorruptSpoolFileException(sidecarName, "vanished during the scan");
        }
        if (!changed.id().equals(id) || changed.contentSize() != committed.contentSize()) {
            throw new CorruptSpoolFileException(sidecarName, "is the envelope of " + changed.id() + " ("
                    + changed.contentSize() + " bytes), not of this message (" + committed.contentSize() + " bytes)");
        }
        return changed;
    }

    private static SpoolId idOf(String name, String extension) {
        if (!name.endsWith(extension)) {
            return null;
        }
        return SpoolId.parseOrNull(name.substring(0, name.length() - extension.length()));
    }

    private void moveAside(String name) throws IOException {
        Path source = layout.queue().resolve(name);
        if (!Files.exists(source)) {
            return;
        }
        Path target = layout.corrupt().resolve(name);
        for (int n = 1; Files.exists(target); n++) {
            target = layout.corrupt().resolve(name + "." + n);
        }
        files.rename(source, target);
    }

    private static List<Path> list(Path directory) throws IOException {
        List<Path> entries = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(directory)) {
            stream.forEach(entries::add);
        }
        return entries;
    }
}
