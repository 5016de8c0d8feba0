package org.smtptlsproxy.interop;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * The external programs the suite drives. A test whose program is missing is skipped with a
 * message that says what to install; on CI (`.ci/run` installs everything) nothing is skipped.
 */
enum Tools {
    POSTFIX("postfix", "apt-get install postfix (debconf: postfix/main_mailer_type = No configuration)",
            "/usr/sbin/postfix"),
    POSTQUEUE("postqueue", "apt-get install postfix", "/usr/sbin/postqueue"),
    POSTCAT("postcat", "apt-get install postfix", "/usr/sbin/postcat"),
    POSTCONF("postconf", "apt-get install postfix", "/usr/sbin/postconf"),
    SWAKS("swaks", "apt-get install swaks", "/usr/bin/swaks"),
    TESTSSL("testssl", "apt-get install testssl.sh", "/usr/bin/testssl"),
    PYTHON3("python3", "apt-get install python3", "/usr/bin/python3"),
    /** Exim is unpacked from its .deb into a private directory by .ci/run (it conflicts with postfix). */
    EXIM("exim4", "the exim4-daemon-light .deb unpacked with dpkg-deb -x into $INTEROP_EXIM_ROOT "
            + "(see .ci/run)", exim());

    private final String name;
    private final String installHint;
    private final List<String> candidates;

    Tools(String name, String installHint, String... candidates) {
        this.name = name;
        this.installHint = installHint;
        this.candidates = List.of(candidates);
    }

    private static String exim() {
        String root = System.getenv().getOrDefault("INTEROP_EXIM_ROOT", "/opt/interop-exim");
        return root + "/usr/sbin/exim4";
    }

    Optional<Path> find() {
        return candidates.stream().map(Path::of).filter(Files::isExecutable).findFirst();
    }

    /** The program's path; skips the calling test, loudly, when it is not installed. */
    String require() {
        Optional<Path> path = find();
        if (path.isEmpty()) {
            String message = "INTEROP TEST SKIPPED: " + name + " is not installed (looked at " + candidates
                    + "); install it with: " + installHint;
            System.err.println(message);
            Assumptions.abort(message);
        }
        return path.get().toString();
    }

    /** Postfix runs its private instances as root (setuid mail_owner processes, a root master). */
    static void requireRoot() {
        boolean root = "root".equals(System.getProperty("user.name"));
        if (!root) {
            String message = "INTEROP TEST SKIPPED: the private Postfix and Exim instances need root";
            System.err.println(message);
            Assumptions.abort(message);
        }
    }
}
