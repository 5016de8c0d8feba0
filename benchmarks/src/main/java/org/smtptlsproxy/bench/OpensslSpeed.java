package org.smtptlsproxy.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What {@code openssl speed} measures on this machine: the yardstick for handshake rates. */
final class OpensslSpeed {

    /** "rsa 2048 bits 0.000744s 0.000022s   1344.1  45454.5": sign time, verify time, sign/s, verify/s. */
    private static final Pattern RSA_2048 = Pattern.compile("^rsa\\s+2048 bits\\s+\\S+\\s+\\S+\\s+([0-9.]+)\\s", Pattern.MULTILINE);

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

    private static double measure(String ia32cap) throws InterruptedException {
        try {
            ProcessBuilder builder = new ProcessBuilder("openssl", "speed", "-seconds", "3", "rsa2048").redirectErrorStream(true);
            if (ia32cap != null) {
                builder.environment().put("OPENSSL_ia32cap", ia32cap);
            }
            Process process = builder.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return Double.NaN;
            }
            Matcher m = RSA_2048.matcher(output);
            return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
        } catch (IOException e) {
            return Double.NaN;
        }
    }
}
