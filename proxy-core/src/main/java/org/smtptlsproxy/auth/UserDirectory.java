package org.smtptlsproxy.auth;

import java.util.Map;

/**
 * The inbound users of one listener. Checking is slow on purpose (bcrypt, PBKDF2): callers run
 * it on a worker thread, never on an event loop.
 */
public final class UserDirectory {

    private final Map<String, String> hashes;

    public UserDirectory(Map<String, String> hashes) {
        this.hashes = Map.copyOf(hashes);
    }

    /** Unknown users are checked against a decoy hash, so timing does not reveal who exists. */
    public boolean authenticate(String user, String password) {
        String hash = hashes.get(user);
        boolean matches = PasswordHashes.matches(hash == null ? PasswordHashes.decoy() : hash, password);
        return hash != null && matches;
    }
}
