package org.smtptlsproxy.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * CPU time, read three ways so that a relay's own cost can be told apart from the sender's and
 * the sink's on a machine they all share: the threads of this JVM whose names start with given
 * prefixes (the proxy's event loops), a process tree from {@code /proc} (Postfix's master and
 * its children, reaped ones included), and the whole machine from {@code /proc/stat}.
 */
final class CpuMeter {

    /** Linux reports process and machine times in clock ticks; USER_HZ is 100 on every mainstream kernel. */
    private static final long NANOS_PER_TICK = 10_000_000L;
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private CpuMeter() {
    }

    /** CPU of the live threads in this JVM named with one of {@code prefixes}. */
    static long threadsNanos(List<String> prefixes) {
        long total = 0;
        for (ThreadInfo info : THREADS.getThreadInfo(THREADS.getAllThreadIds())) {
            if (info != null && prefixes.stream().anyMatch(info.getThreadName()::startsWith)) {
                total += Math.max(0, THREADS.getThreadCpuTime(info.getThreadId()));
            }
        }
        return total;
    }

    /**
     * CPU of process {@code pid}, of the children it has reaped (cutime, cstime) and of its live
     * children: all of a Postfix instance, whose smtpd and smtp processes come and go.
     */
    static long processTreeNanos(long pid) {
        long ticks = ownAndReapedTicks(pid);
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String name = proc.getFileName().toString();
                if (name.chars().allMatch(Character::isDigit)) {
                    long[] stat = stat(Long.parseLong(name));
                    if (stat != null && stat[0] == pid) {
                        ticks += stat[1] + stat[2];
                    }
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return ticks * NANOS_PER_TICK;
    }

    /** Busy CPU of the whole machine: everything but idle and I/O wait. */
    static long machineNanos() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long busy = 0;
            for (int i : new int[] {1, 2, 3, 6, 7, 8}) { // user nice system irq softirq steal
                busy += Long.parseLong(f[i]);
            }
            return busy * NANOS_PER_TICK;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long ownAndReapedTicks(long pid) {
        long[] stat = stat(pid);
        return stat == null ? 0 : stat[1] + stat[2] + stat[3] + stat[4];
    }

    /** ppid, utime, stime, cutime, cstime of {@code pid}, or null if it is gone. */
    private static long[] stat(long pid) {
        try {
            String line = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // The command name may contain spaces and parentheses: fields start after the last ')'.
            String[] f = line.substring(line.lastIndexOf(')') + 2).trim().split("\\s+");
            return new long[] {Long.parseLong(f[1]), Long.parseLong(f[11]), Long.parseLong(f[12]),
                    Long.parseLong(f[13]), Long.parseLong(f[14])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
