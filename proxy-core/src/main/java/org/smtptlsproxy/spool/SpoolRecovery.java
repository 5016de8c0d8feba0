package org.smtptlsproxy.spool;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scan at start, before anything is accepted: temp files are deleted (none got a 250),
 * content files without an envelope are deleted (an interrupted commit or removal), and anything
 * unreadable (an envelope that does not check, content missing or of the wrong size, a name that
 * is no message) is moved to {@code corrupt/} and reported, never dropped.
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

    RecoveryReport run(Map<SpoolId, SpoolEnvelope> into) throws IOException {
        int temps = 0;
        for (Path temp : list(layout.tmp())) {
            files.delete(temp);
            temps++;
        }
        List<String> corrupt = new ArrayList<>();
        Set<String> claimed = new HashSet<>();
        int orphans = 0;
        for (SpoolId id : layout.envelopeIds()) {
            String envelopeName = id.value() + SpoolLayout.ENVELOPE;
            String dataName = id.value() + SpoolLayout.DATA;
            claimed.add(envelopeName);
            claimed.add(dataName);
            try {
                SpoolEnvelope envelope = layout.readEnvelope(id)
                        .orElseThrow(() -> new CorruptSpoolFileException(envelopeName, "vanished during the scan"));
                if (!envelope.id().equals(id)) {
                    throw new CorruptSpoolFileException(envelopeName, "holds the envelope of " + envelope.id());
                }
                Path data = layout.data(id);
                if (!Files.exists(data)) {
                    throw new CorruptSpoolFileException(dataName, "content file missing");
                }
                long size = Files.size(data);
                if (size != envelope.contentSize()) {
                    throw new CorruptSpoolFileException(dataName,
                            "content is " + size + " bytes, the envelope says " + envelope.contentSize());
                }
                into.put(id, envelope);
            } catch (CorruptSpoolFileException e) {
                moveAside(envelopeName);
                moveAside(dataName);
                corrupt.add(e.getMessage());
                metrics.corruptMovedAside();
                log.error("spool: {}; moved to {} for inspection", e.getMessage(), layout.corrupt());
            }
        }
        for (Path entry : list(layout.queue())) {
            String name = entry.getFileName().toString();
            if (claimed.contains(name)) {
                continue;
            }
            if (name.endsWith(SpoolLayout.DATA) && SpoolId.parseOrNull(name.substring(0, name.length() - SpoolLayout.DATA.length())) != null) {
                files.delete(entry);
                orphans++;
            } else {
                moveAside(name);
                corrupt.add(name + ": not a spool file");
                metrics.corruptMovedAside();
                log.error("spool: {} is not a spool file; moved to {}", name, layout.corrupt());
            }
        }
        files.syncDirectory(layout.queue());
        if (!corrupt.isEmpty()) {
            files.syncDirectory(layout.corrupt());
        }
        RecoveryReport report = new RecoveryReport(into.size(), temps, orphans, corrupt);
        if (temps > 0 || orphans > 0 || !corrupt.isEmpty()) {
            log.warn("spool: recovered {} messages from {}; deleted {} unfinished writes and {} content files without "
                    + "an envelope; moved {} corrupt files aside", report.recovered(), layout.root(), temps, orphans,
                    corrupt.size());
        }
        return report;
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
