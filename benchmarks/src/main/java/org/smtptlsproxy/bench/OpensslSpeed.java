package org.smtptlsproxy.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What {@code openssl speed} measures on this machine: the yardstick for handshake rates. */
final class OpensslSpeed {

    /** "rsa 2048 bits 0.000744s 0.000022s   1344.1  45454.5": sign time, verify time, sign/s, verify/s. */
    private static final Pattern RSA_2048 = Pattern.compile("^rsa\\s+2048 bits\\s+\\S+\\s+\\S+\\s+([0-9.]+)\\s", Pattern.MULTILINE);
    /** " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  50657.7  16672.0": sign/s is the first rate. */
    private static final Pattern ECDSA_P256 = Pattern.compile("^\\s*256 bits ecdsa \\(nistp256\\)\\s+\\S+\\s+\\S+\\s+([0-9.]+)\\s",
            Pattern.MULTILINE);
    /** " 253 bits ecdh (X25519)   0.0000s  31072.0": operations/s. */
    private static final Pattern X25519 = Pattern.compile("^\\s*253 bits ecdh \\(X25519\\)\\s+\\S+\\s+([0-9.]+)", Pattern.MULTILINE);
    private static final Pattern ECDH_P256 = Pattern.compile("^\\s*256 bits ecdh \\(nistp256\\)\\s+\\S+\\s+([0-9.]+)", Pattern.MULTILINE);

    /**
     * One core's rates for what a server's side of a full handshake costs in public-key
     * operations: RSA-2048 and ECDSA P-256 signatures, X25519 and P-256 key agreements. NaN where
     * openssl is missing or said something else.
     */
    record Floor(double rsa2048Signs, double ecdsaP256Signs, double x25519, double ecdhP256) {

        /** Milliseconds of one core for a full RSA-2048 handshake's server side: one signature, one X25519. */
        double rsaHandshakeMs() {
            return 1000 / rsa2048Signs + 1000 / x25519;
        }

        /** The same with an ECDSA P-256 certificate. */
        double ecdsaHandshakeMs() {
            return 1000 / ecdsaP256Signs + 1000 / x25519;
        }
    }

    private OpensslSpeed() {
    }

    /**
     * {@code OPENSSL_ia32cap} mask that hides AVX-512 IFMA (CPUID leaf 7, EBX bit 21) from
     * OpenSSL. OpenSSL 3 signs RSA-2048 with IFMA instructions where the CPU has them, nearly twice
     * as fast as the general code; BoringSSL, which the proxy uses, has no such path.
     */
    private static final String WITHOUT_IFMA = ":~0x200000";

    /** RSA-2048 signatures per second on one core, or NaN if openssl is missing or says something else. */
    static double rsa2048SignsPerSecond() throws InterruptedException {
        return measure(null);
    }

    /**
     * The same with AVX-512 IFMA hidden: what OpenSSL's general code, the kind BoringSSL runs,
     * signs here. Equal to {@link #rsa2048SignsPerSecond} on a CPU without IFMA.
     */
    static double rsa2048SignsPerSecondWithoutIfma() throws InterruptedException {
        return measure(WITHOUT_IFMA);
    }

    /** The handshake floor's operations, three seconds each. */
    static Floor floor() throws InterruptedException {
        String output = speed(null, "rsa2048", "ecdsap256", "ecdhx25519", "ecdhp256");
        return new Floor(rate(RSA_2048, output), rate(ECDSA_P256, output), rate(X25519, output), rate(ECDH_P256, output));
    }

    private static double measure(String ia32cap) throws InterruptedException {
        return rate(RSA_2048, speed(ia32cap, "rsa2048"));
    }

    private static double rate(Pattern pattern, String output) {
        Matcher m = pattern.matcher(output);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    /** What {@code openssl speed} printed, or "" when it could not run. */
    private static String speed(String ia32cap, String... algorithms) throws InterruptedException {
        try {
            List<String> command = new ArrayList<>(List.of("openssl", "speed", "-seconds", "3"));
            command.addAll(List.of(algorithms));
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            if (ia32cap != null) {
                builder.environment().put("OPENSSL_ia32cap", ia32cap);
            }
            Process process = builder.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return "";
            }
            return output;
        } catch (IOException e) {
            return "";
        }
    }
}
