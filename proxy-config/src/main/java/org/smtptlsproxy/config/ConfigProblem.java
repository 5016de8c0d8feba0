package org.smtptlsproxy.config;

/**
 * One thing wrong with a configuration: the key path ({@code listeners[0].tls.certificate}), the
 * 1-based line in the file (0 when unknown) and a message an administrator can act on.
 */
public record ConfigProblem(String path, int line, String message) {

    @Override
    public String toString() {
        return line > 0 ? path + " (line " + line + "): " + message : path + ": " + message;
    }
}
