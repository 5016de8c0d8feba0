package org.smtptlsproxy.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;
import org.smtptlsproxy.bench.jmh.ProviderHandshakeBench;

/**
 * One run that answers "which TLS provider path serves an inbound handshake cheapest here":
 * {@code openssl speed} for the floor, then {@link ProviderHandshakeBench} for every case (full
 * TLS 1.0/1.2/1.3 with RSA-2048 and ECDSA P-256, resumed TLS 1.2 by session ID and by ticket,
 * resumed TLS 1.3) with the paths of a case run one after another, then {@code openssl speed}
 * again. Prints a table: server CPU per handshake, its ratio to the floor, and BoringSSL's cost
 * over each other path's.
 *
 * <p>Usage: {@code HandshakeProviders [--openssl-lib DIR] [--warmup N] [--iterations N]
 * [--seconds N] [--out FILE]}. Without {@code --openssl-lib} the system-OpenSSL path is left
 * out; with it, that path's forks get {@code -Djava.library.path=DIR} (see
 * {@code scripts/bench-handshake.sh}). Every fork inherits this JVM's flags, so start it with
 * the legacy-TLS security override for the JDK's TLS 1.0.
 */
public final class HandshakeProviders {

    private record Case(String protocol, String key, String resumption) {
        String label() {
            return switch (resumption) {
                case "NONE" -> protocol + " full " + key;
                case "SESSION_ID" -> protocol + " resumed by session ID";
                default -> protocol + " resumed by ticket";
            };
        }
    }

    private record Measured(double handshakesPerSecond, double serverMs, double clientMs, double unexpected) {
    }

    private static final List<Case> CASES = List.of(
            new Case("TLSv1.2", "RSA", "NONE"),
            new Case("TLSv1.2", "EC", "NONE"),
            new Case("TLSv1", "RSA", "NONE"),
            new Case("TLSv1", "EC", "NONE"),
            new Case("TLSv1.3", "RSA", "NONE"),
            new Case("TLSv1.3", "EC", "NONE"),
            new Case("TLSv1.2", "RSA", "SESSION_ID"),
            new Case("TLSv1.2", "RSA", "TICKET"),
            new Case("TLSv1.3", "RSA", "TICKET"));

    private HandshakeProviders() {
    }

    public static void main(String[] args) throws Exception {
        String opensslLib = null;
        int warmup = 3;
        int iterations = 5;
        int seconds = 1;
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--openssl-lib" -> opensslLib = args[++i];
                case "--warmup" -> warmup = Integer.parseInt(value(args, ++i));
                case "--iterations" -> iterations = Integer.parseInt(value(args, ++i));
                case "--seconds" -> seconds = Integer.parseInt(value(args, ++i));
                case "--out" -> out = Path.of(value(args, ++i));
                default -> {
                    System.err.println("unknown argument " + args[i] + " (value " + value + "); usage: HandshakeProviders"
                            + " [--openssl-lib DIR] [--warmup N] [--iterations N] [--seconds N] [--out FILE]");
                    System.exit(2);
                }
            }
        }
        List<ProviderHandshakeBench.Path> paths = new ArrayList<>(List.of(ProviderHandshakeBench.Path.BORINGSSL));
        if (opensslLib != null) {
            paths.add(ProviderHandshakeBench.Path.OPENSSL_SYSTEM);
        }
        paths.add(ProviderHandshakeBench.Path.JDK);

        OpensslSpeed.Floor before = OpensslSpeed.floor();
        Map<String, Measured> results = new LinkedHashMap<>();
        Map<String, String> failures = new LinkedHashMap<>();
        for (Case c : CASES) {
            for (ProviderHandshakeBench.Path path : paths) {
                String id = id(c, path);
                ChainedOptionsBuilder options = new OptionsBuilder()
                        .include(ProviderHandshakeBench.class.getName() + ".handshake")
                        .param("path", path.name())
                        .param("key", c.key())
                        .param("protocol", c.protocol())
                        .param("resumption", c.resumption())
                        .forks(1)
                        .warmupIterations(warmup)
                        .measurementIterations(iterations)
                        .warmupTime(TimeValue.seconds(seconds))
                        .measurementTime(TimeValue.seconds(seconds))
                        .shouldFailOnError(false)
                        .verbosity(VerboseMode.NORMAL);
                if (path == ProviderHandshakeBench.Path.OPENSSL_SYSTEM) {
                    options.jvmArgsAppend("-Djava.library.path=" + opensslLib);
                }
                System.out.printf(Locale.ROOT, "# %s on %s ...%n", c.label(), path);
                try {
                    Collection<RunResult> run = new Runner(options.build()).run();
                    if (run.isEmpty()) {
                        failures.put(id, "the fork failed: its error is printed above");
                        System.out.println("#   failed");
                    } else {
                        Measured m = measured(run.iterator().next());
                        results.put(id, m);
                        System.out.printf(Locale.ROOT, "#   server %.3f ms, client %.3f ms a handshake%n", m.serverMs(), m.clientMs());
                    }
                } catch (RunnerException e) {
                    failures.put(id, e.getMessage());
                }
            }
        }
        OpensslSpeed.Floor after = OpensslSpeed.floor();
        String report = report(before, after, paths, results, failures, warmup, iterations, seconds);
        System.out.println();
        System.out.println(report);
        if (out != null) {
            Files.createDirectories(out.toAbsolutePath().getParent());
            Files.writeString(out, report);
        }
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) {
            throw new IllegalArgumentException(args[i - 1] + " needs a value");
        }
        return args[i];
    }

    private static String id(Case c, ProviderHandshakeBench.Path path) {
        return c.label() + "|" + path;
    }

    /** Server CPU per handshake from the CPU share and the rate (see ProviderHandshakeBench). */
    private static Measured measured(RunResult run) {
        double rate = run.getPrimaryResult().getScore();
        Map<String, Result> secondary = run.getSecondaryResults();
        double server = secondary.get("serverCpuPct").getScore() * 10 / rate;
        double client = secondary.get("clientCpuPct").getScore() * 10 / rate;
        Result unexpected = secondary.get("unexpected");
        return new Measured(rate, server, client, unexpected == null ? 0 : unexpected.getScore());
    }

    private static String report(OpensslSpeed.Floor before, OpensslSpeed.Floor after, List<ProviderHandshakeBench.Path> paths,
                                 Map<String, Measured> results, Map<String, String> failures, int warmup, int iterations,
                                 int seconds) {
        StringBuilder s = new StringBuilder();
        double rsaSigns = (before.rsa2048Signs() + after.rsa2048Signs()) / 2;
        double ecdsaSigns = (before.ecdsaP256Signs() + after.ecdsaP256Signs()) / 2;
        double x25519 = (before.x25519() + after.x25519()) / 2;
        double rsaFloor = 1000 / rsaSigns + 1000 / x25519;
        double ecdsaFloor = 1000 / ecdsaSigns + 1000 / x25519;
        double dhFloor = 1000 / x25519;
        s.append(String.format(Locale.ROOT, "openssl speed, one core, before / after the handshakes: RSA-2048 %.0f / %.0f signs/s, "
                        + "ECDSA P-256 %.0f / %.0f signs/s, X25519 %.0f / %.0f ops/s%n",
                before.rsa2048Signs(), after.rsa2048Signs(), before.ecdsaP256Signs(), after.ecdsaP256Signs(),
                before.x25519(), after.x25519()));
        s.append(String.format(Locale.ROOT, "floor (means): full RSA-2048 handshake %.3f ms (one signature, one X25519), "
                + "full ECDSA P-256 %.3f ms, TLS 1.3 resumption %.3f ms (one X25519), TLS 1.2 resumption none%n",
                rsaFloor, ecdsaFloor, dhFloor));
        s.append(String.format(Locale.ROOT, "JMH: 1 fork per row, %d x %d s warm-up, %d x %d s measured; server CPU per handshake "
                + "(thread CPU of the server engine's work)%n%n", warmup, seconds, iterations, seconds));
        s.append("| handshake | path | server CPU ms | x floor | x BoringSSL | client CPU ms | not as asked |\n");
        s.append("|---|---|---|---|---|---|---|\n");
        for (Case c : CASES) {
            Measured boring = results.get(id(c, ProviderHandshakeBench.Path.BORINGSSL));
            double floor = switch (c.resumption()) {
                case "NONE" -> "RSA".equals(c.key()) ? rsaFloor : ecdsaFloor;
                default -> "TLSv1.3".equals(c.protocol()) ? dhFloor : Double.NaN;
            };
            for (ProviderHandshakeBench.Path path : paths) {
                Measured m = results.get(id(c, path));
                if (m == null) {
                    s.append(String.format(Locale.ROOT, "| %s | %s | failed: %s | | | | |%n", c.label(), path,
                            failures.getOrDefault(id(c, path), "no result")));
                    continue;
                }
                s.append(String.format(Locale.ROOT, "| %s | %s | %.3f | %s | %s | %.3f | %.0f |%n", c.label(), path, m.serverMs(),
                        Double.isNaN(floor) ? "—" : String.format(Locale.ROOT, "%.2f", m.serverMs() / floor),
                        boring == null ? "—" : String.format(Locale.ROOT, "%.2f", m.serverMs() / boring.serverMs()),
                        m.clientMs(), m.unexpected()));
            }
        }
        s.append("\nresumed / full, server CPU, per path (TLS 1.2 RSA, TLS 1.3 RSA):\n");
        for (ProviderHandshakeBench.Path path : paths) {
            Measured full12 = results.get(id(new Case("TLSv1.2", "RSA", "NONE"), path));
            Measured id12 = results.get(id(new Case("TLSv1.2", "RSA", "SESSION_ID"), path));
            Measured ticket12 = results.get(id(new Case("TLSv1.2", "RSA", "TICKET"), path));
            Measured full13 = results.get(id(new Case("TLSv1.3", "RSA", "NONE"), path));
            Measured ticket13 = results.get(id(new Case("TLSv1.3", "RSA", "TICKET"), path));
            s.append(String.format(Locale.ROOT, "  %s: TLS 1.2 session ID %s, TLS 1.2 ticket %s, TLS 1.3 ticket %s%n", path,
                    ratio(id12, full12), ratio(ticket12, full12), ratio(ticket13, full13)));
        }
        return s.toString();
    }

    private static String ratio(Measured part, Measured whole) {
        return part == null || whole == null ? "—" : String.format(Locale.ROOT, "%.3f", part.serverMs() / whole.serverMs());
    }
}
