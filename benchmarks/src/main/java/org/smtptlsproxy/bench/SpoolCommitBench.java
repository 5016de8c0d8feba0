package org.smtptlsproxy.bench;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.smtptlsproxy.spool.MessageDraft;
import org.smtptlsproxy.spool.SpoolFiles;
import org.smtptlsproxy.spool.SpoolMetrics;
import org.smtptlsproxy.spool.SpoolRecipient;
import org.smtptlsproxy.spool.SpoolSettings;
import org.smtptlsproxy.spool.SpoolStore;
import org.smtptlsproxy.spool.SpoolWriter;

/**
 * Durable commits per second into the spool on a real disk: W writers each writing a message of
 * S bytes and waiting for its commit (the moment a session would answer 250), with group commit
 * and with the naive fsync-per-message, for 1 and for 50 writers. Bounded by a time per variant.
 * Usage: SpoolCommitBench [dir] [size-bytes] [seconds-per-variant]
 */
public final class SpoolCommitBench {

    public record Result(String mode, int writers, long commits, double perSecond) {
    }

    private SpoolCommitBench() {
    }

    public static void main(String[] args) throws Exception {
        Path base = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("spool-bench");
        int size = args.length > 1 ? Integer.parseInt(args[1]) : 1024;
        Duration time = Duration.ofSeconds(args.length > 2 ? Long.parseLong(args[2]) : 10);
        run(base, size, time, List.of(1, 50), System.out);
    }

    public static List<Result> run(Path base, int size, Duration time, List<Integer> writerCounts, PrintStream out)
            throws Exception {
        out.printf("spool commit benchmark: %s, %d-byte messages, %ds per variant, %d cores%n", base, size,
                time.toSeconds(), Runtime.getRuntime().availableProcessors());
        List<Result> results = new ArrayList<>();
        for (boolean group : new boolean[] {false, true}) {
            for (int writers : writerCounts) {
                Result result = variant(base.resolve((group ? "group-" : "naive-") + writers), group, writers, size, time);
                results.add(result);
                out.printf("%-6s %3d writers: %8d commits, %9.1f commits/s%n", result.mode(), writers, result.commits(),
                        result.perSecond());
            }
        }
        return results;
    }

    private static Result variant(Path dir, boolean group, int writers, int size, Duration time) throws Exception {
        byte[] content = new byte[size];
        java.util.Arrays.fill(content, (byte) 'x');
        MessageDraft draft = new MessageDraft("bench", "s", "client=127.0.0.1", "sender@example.com", "",
                List.of(SpoolRecipient.pending("rcpt@example.com", "")));
        AtomicLong commits = new AtomicLong();
        AtomicLong failures = new AtomicLong();
        long elapsed;
        try (SpoolStore store = SpoolStore.open(new SpoolSettings(dir, 1L << 40, Integer.MAX_VALUE, group,
                SpoolSettings.DEFAULT_SYNC_PARALLELISM), SpoolFiles.disk(), Clock.systemUTC(), SpoolMetrics.none())) {
            long start = System.nanoTime();
            long deadline = start + time.toNanos();
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < writers; w++) {
                Thread thread = new Thread(() -> {
                    while (System.nanoTime() < deadline) {
                        try {
                            SpoolWriter writer = store.open();
                            writer.write(content);
                            writer.commit(draft).get(30, TimeUnit.SECONDS);
                            commits.incrementAndGet();
                        } catch (Exception e) {
                            failures.incrementAndGet();
                            return;
                        }
                    }
                });
                threads.add(thread);
                thread.start();
            }
            for (Thread thread : threads) {
                thread.join(time.toMillis() + 60_000);
            }
            elapsed = System.nanoTime() - start;
        }
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " commits failed");
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
        return new Result(group ? "group" : "naive", writers, commits.get(), commits.get() * 1e9 / elapsed);
    }
}
