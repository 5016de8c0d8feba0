package org.smtptlsproxy.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StartupChecksSpoolTest {

    @TempDir
    Path dir;

    @Test
    void aWritableOrCreatableSpoolDirectoryPasses() throws Exception {
        assertNull(StartupChecks.unwritable(dir));
        assertNull(StartupChecks.unwritable(dir.resolve("not/yet")));
    }

    @Test
    void aFileInTheWayOrAReadOnlyDirectoryIsReported() throws Exception {
        Path file = Files.writeString(dir.resolve("file"), "x");
        assertTrue(StartupChecks.unwritable(file.resolve("spool")).contains("is not a directory"));
        Path readOnly = Files.createDirectory(dir.resolve("ro"));
        assertTrue(readOnly.toFile().setWritable(false));
        try {
            // root may write anyway: then there is nothing to report
            String problem = StartupChecks.unwritable(readOnly);
            String nested = StartupChecks.unwritable(readOnly.resolve("spool"));
            if (!Files.isWritable(readOnly)) {
                assertTrue(problem.contains("not writable"), problem);
                assertTrue(nested.contains("not writable"), nested);
            }
        } finally {
            readOnly.toFile().setWritable(true);
        }
    }
}
