package org.smtptlsproxy.bench;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.function.ToLongFunction;
import org.smtptlsproxy.bench.FaultInjectionLoad.SoakSample;

/**
 * The soak of docs/RELIABILITY.md: the fault-injection mix against a proxy in a JVM of its own for
 * a fixed time (15 minutes by default), the proxy's heap after a full GC, RSS, open descriptors,
 * Netty direct memory and event-loop queue sampled every 30 s. A resource is flat when its mean
 * over the last third of the run is within a quarter (plus a small allowance) of its mean over
 * the first third, warm-up sample excluded. Exits 1 on a trend or on any broken invariant.
 *
 * <p>Run: {@code scripts/soak.sh [MINUTES] [SENDERS]}. Bounded: it stops sending at the end of
 * its time and exits.
 */
public final class Soak {

    private Soak() {
    }

    public static void main(String[] args) throws Exception {
        int minutes = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int senders = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        FaultInjectionLoad.Settings settings = new FaultInjectionLoad.Settings(Integer.MAX_VALUE, senders, 5, 5 << 20,
                20261206L, 0.02, 0.05, Duration.ofSeconds(30), Duration.ofSeconds(2), null);
        FaultInjectionLoad.SoakReport report = FaultInjectionLoad.soak(settings, Duration.ofMinutes(minutes),
                Duration.ofSeconds(30), System.out);
        report.load().print(System.out);
        boolean flat = print(report.samples(), System.out);
        System.exit(flat && report.load().violations().isEmpty() ? 0 : 1);
    }

    /** The samples as a table and the verdict per resource; true when every one is flat. */
    static boolean print(List<SoakSample> samples, PrintStream out) {
        out.printf("%8s %10s %12s %10s %8s %12s %8s%n", "seconds", "messages", "heap (MiB)", "RSS (MiB)", "files",
                "direct (MiB)", "pending");
        for (SoakSample s : samples) {
            out.printf("%8d %,10d %12.1f %10.1f %8d %12.1f %8d%n", s.elapsedSeconds(), s.messages(), mib(s.heapAfterGc()),
                    mib(s.rss()), s.openFiles(), mib(s.nettyDirect()), s.pendingTasks());
        }
        boolean flat = verdict(samples, "heap after GC", SoakSample::heapAfterGc, 8 << 20, out);
        flat &= verdict(samples, "RSS", SoakSample::rss, 48 << 20, out);
        flat &= verdict(samples, "open files", SoakSample::openFiles, 30, out);
        flat &= verdict(samples, "Netty direct memory", SoakSample::nettyDirect, 8 << 20, out);
        flat &= verdict(samples, "event-loop pending tasks", SoakSample::pendingTasks, 50, out);
        return flat;
    }

    private static boolean verdict(List<SoakSample> samples, String what, ToLongFunction<SoakSample> value, long allowance,
                                   PrintStream out) {
        List<SoakSample> steady = samples.size() > 3 ? samples.subList(1, samples.size()) : samples;
        int third = Math.max(1, steady.size() / 3);
        double first = steady.subList(0, third).stream().mapToLong(value).average().orElse(0);
        double last = steady.subList(steady.size() - third, steady.size()).stream().mapToLong(value).average().orElse(0);
        boolean flat = last <= first * 1.25 + allowance;
        out.printf("%-26s first third %,.0f, last third %,.0f: %s%n", what, first, last, flat ? "flat" : "GROWING");
        return flat;
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }
}
