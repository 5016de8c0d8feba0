package org.smtptlsproxy.spool;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13's crash test at the storage seam: thousands of runs, each failing one file operation
 * at a random step, either once (a full disk, a failed fsync) or for good (the process dies there),
 * then the spool reopened on the real disk. The invariants: every commit that completed is
 * recovered exactly once with its exact octets; a commit that failed while the process lived is
 * never recovered; one in flight when the process died may be (its client got no 250 and sends it
 * again: a duplicate, never a loss) but then whole; a temp file never becomes a message; an
 * envelope update leaves the old envelope or the new one; a message removed in the faulty phase,
 * whose file the new messages then reuse, is gone or else whole; nothing is ever corrupt.
 *
 * <p>Half of the crashes are also power losses: the name changes (creates, renames, deletes) that
 * no directory fsync made durable are undone before the reopen, the file contents kept. This is
 * what checks that a delivered message's file is overwritten only once its removal is durable.
 */
@Timeout(300)
class SpoolCrashTest {

    private static final int RUNS = 3000;
    private static final long TIME_BUDGET_MS = 120_000;

    @TempDir
    Path base;

    @Test
    void everyCompletedCommitSurvivesAnyInjectedFailureOrCrash() throws Exception {
        Random random = new Random(13);
        long deadline = System.currentTimeMillis() + TIME_BUDGET_MS;
        int crashes = 0;
        int failures = 0;
        int reuses = 0; // runs in which a writer overwrote the removed message's file
        int run = 0;
        for (; run < RUNS && System.currentTimeMillis() < deadline; run++) {
            boolean crash = random.nextBoolean();
            boolean group = random.nextBoolean();
            int failAt = 1 + random.nextInt(60);
            boolean powerLoss = crash && random.nextBoolean();
            Path dir = base.resolve("run" + run);
            Path graveyard = base.resolve("graves" + run);
            if (runOnce(dir, new Random(random.nextLong()), failAt, crash, group, powerLoss ? graveyard : null) > 0) {
                reuses++;
            }
            if (crash) {
                crashes++;
            } else {
                failures++;
            }
            deleteTree(dir);
            if (Files.exists(graveyard)) {
                deleteTree(graveyard);
            }
        }
        assertTrue(run >= 500, "only " + run + " runs in the time budget");
        assertTrue(crashes > 100 && failures > 100);
        assertTrue(reuses > run / 2,
                "the writers reused the removed message's file in only " + reuses + " runs of " + run);
    }

    /** Returns how many files the writers reused. */
    private int runOnce(Path dir, Random random, int failAt, boolean crash, boolean group, Path graveyard)
            throws Exception {
        boolean powerLoss = graveyard != null;
        String label = "failAt=" + failAt + " crash=" + crash + " group=" + group + " powerLoss=" + powerLoss;
        // Messages committed before the faults start: the update below rewrites the first one's
        // envelope; the second is removed (as if delivered), so that the writers reuse its file.
        SpoolEnvelope before;
        byte[] beforeBytes = bytes(random, 1);
        List<SpoolEnvelope> doomedStates = new ArrayList<>();
        byte[] doomedBytes = bytes(random, 6);
        try (SpoolStore store = SpoolStore.open(SpoolTesting.settings(dir), SpoolFiles.disk(), Clock.systemUTC(),
                SpoolMetrics.none())) {
            SpoolWriter writer = store.open();
            writer.write(beforeBytes);
            before = writer.commit(SpoolTesting.draft()).get(10, TimeUnit.SECONDS);
            SpoolWriter doomedWriter = store.open();
            doomedWriter.write(doomedBytes);
            doomedStates.add(doomedWriter.commit(SpoolTesting.draft()).get(10, TimeUnit.SECONDS));
            if (random.nextBoolean()) {
                doomedStates.add(doomedStates.get(0)
                        .afterAttempt(Instant.parse("2030-01-01T00:00:00Z"), "451 4.3.0 later"));
                store.update(doomedStates.get(1));
            }
        }
        SpoolId doomed = doomedStates.get(0).id();
        boolean removeDone = false;
        FaultySpoolFiles files = new FaultySpoolFiles(failAt, crash, false, graveyard);
        Map<SpoolId, byte[]> completed = new HashMap<>();
        Map<SpoolId, byte[]> failedWhileAlive = new HashMap<>();
        Map<SpoolId, byte[]> inFlightAtCrash = new HashMap<>();
        SpoolEnvelope updated = before.afterAttempt(Instant.parse("2031-01-01T00:00:00Z"), "451 4.4.1 try later");
        boolean updateDone = false;
        SpoolStore store;
        try {
            store = SpoolStore.open(SpoolTesting.settings(dir).withGroupCommit(group), files, Clock.systemUTC(),
                    SpoolMetrics.none());
        } catch (IOException e) {
            store = null; // failed (or died) during recovery: the reopen below must still see everything
        }
        if (store != null) {
            try {
                store.remove(doomed);
                removeDone = true;
            } catch (IOException e) {
                // the scheduler logs it and removes it at its next tick
            }
            List<SpoolWriter> writers = new ArrayList<>();
            List<byte[]> contents = new ArrayList<>();
            List<CompletableFuture<SpoolEnvelope>> commits = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                byte[] content = bytes(random, i + 2);
                try {
                    SpoolWriter writer = store.open();
                    int split = random.nextInt(content.length);
                    writer.write(content, 0, split);
                    writer.write(content, split, content.length - split);
                    writers.add(writer);
                    contents.add(content);
                    commits.add(writer.commit(SpoolTesting.draft()));
                    if (commits.size() == 1) {
                        // Its batch's fsync of queue/ (if not the removal's own) makes the removed
                        // file reusable: the next writers overwrite it.
                        awaitQuietly(commits.get(0));
                    }
                } catch (IOException e) {
                    // the session would answer 4xx; nothing to check but that it left no message
                }
            }
            try {
                store.update(updated);
                updateDone = true;
            } catch (IOException e) {
                // the scheduler would try again; the envelope must be the old or the new one
            }
            for (int i = 0; i < commits.size(); i++) {
                SpoolId id = writers.get(i).id();
                try {
                    commits.get(i).get(10, TimeUnit.SECONDS);
                    completed.put(id, contents.get(i));
                } catch (ExecutionException e) {
                    (crash ? inFlightAtCrash : failedWhileAlive).put(id, contents.get(i));
                }
            }
            store.close();
        }
        if (powerLoss) {
            files.losePowerNow();
        }
        try (SpoolStore reopened = SpoolTesting.open(dir)) {
            assertEquals(List.of(), reopened.recovery().corrupt(), label);
            assertEquals(List.of(), SpoolTesting.names(dir.resolve("tmp")), label);
            assertEquals(List.of(), SpoolTesting.names(dir.resolve("free")), label);
            for (Map.Entry<SpoolId, byte[]> entry : completed.entrySet()) {
                assertTrue(reopened.envelope(entry.getKey()).isPresent(), label + ": lost a completed commit");
                assertArrayEquals(entry.getValue(), SpoolTesting.content(reopened, entry.getKey()), label);
            }
            for (SpoolId id : reopened.ids()) {
                if (id.equals(before.id()) || id.equals(doomed)) {
                    continue;
                }
                if (failedWhileAlive.containsKey(id)) {
                    fail(label + ": a commit that failed became a message");
                }
                byte[] expected = completed.containsKey(id) ? completed.get(id) : inFlightAtCrash.get(id);
                if (expected == null) {
                    fail(label + ": a message nobody committed: " + id);
                }
                assertArrayEquals(expected, SpoolTesting.content(reopened, id), label);
            }
            SpoolEnvelope envelope = reopened.envelope(before.id()).orElseThrow();
            if (updateDone) {
                assertEquals(updated, envelope, label);
            } else {
                assertTrue(envelope.equals(before) || envelope.equals(updated), label);
            }
            assertArrayEquals(beforeBytes, SpoolTesting.content(reopened, before.id()), label);
            if (reopened.envelope(doomed).isPresent()) {
                // With power lost, a removal whose fsync of queue/ was still to come may come back.
                assertFalse(removeDone && !powerLoss, label + ": a completed removal came back");
                assertTrue(doomedStates.contains(reopened.envelope(doomed).get()), label);
                assertArrayEquals(doomedBytes, SpoolTesting.content(reopened, doomed), label);
            }
            assertFalse(reopened.bytes() < 0, label);
        }
        return files.reuses();
    }

    private static void awaitQuietly(CompletableFuture<SpoolEnvelope> commit) throws Exception {
        try {
            commit.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            // checked with the others below
        }
    }

    private static byte[] bytes(Random random, int salt) {
        byte[] bytes = new byte[1 + random.nextInt(70_000)];
        random.nextBytes(bytes);
        bytes[0] = (byte) salt;
        return bytes;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
