package org.smtptlsproxy.spool;

/** A spool file that cannot be what it claims: moved aside to {@code corrupt/}, never dropped. */
public final class CorruptSpoolFileException extends Exception {

    private final String fileName;

    public CorruptSpoolFileException(String fileName, String message) {
        super(fileName + ": " + message);
        this.fileName = fileName;
    }

    public String fileName() {
        return fileName;
    }
}
