package org.smtptlsproxy.auth;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import org.bouncycastle.crypto.generators.OpenBSDBCrypt;

/**
 * The two hash formats of a users file: bcrypt ({@code $2a$}, {@code $2b$}, {@code $2y$}, checked
 * by BouncyCastle) and {@code $pbkdf2-sha256$ITERATIONS$SALT$HASH} (the JDK's PBKDF2, standard
 * base64, padding optional). Comparisons are constant-time. No hand-made cryptography.
 */
public final class PasswordHashes {

    private static final String PBKDF2_PREFIX = "$pbkdf2-sha256$";
    private static final SecureRandom RANDOM = new SecureRandom();

    private PasswordHashes() {
    }

    /** True when {@code password} matches {@code hash}; false for a malformed hash. */
    public static boolean matches(String hash, String password) {
        try {
            if (hash.startsWith("$2a$") || hash.startsWith("$2b$") || hash.startsWith("$2y$")) {
                return OpenBSDBCrypt.checkPassword(hash, password.toCharArray());
            }
            if (hash.startsWith(PBKDF2_PREFIX)) {
                String[] parts = hash.substring(PBKDF2_PREFIX.length()).split("\\$");
                if (parts.length != 3) {
                    return false;
                }
                int iterations = Integer.parseInt(parts[0]);
                byte[] salt = Base64.getDecoder().decode(pad(parts[1]));
                byte[] expected = Base64.getDecoder().decode(pad(parts[2]));
                return MessageDigest.isEqual(expected, pbkdf2(password, salt, iterations, expected.length));
            }
            return false;
        } catch (IllegalArgumentException | GeneralSecurityException e) {
            return false;
        }
    }

    /** A new bcrypt hash ($2b$) with the given cost (4-31; 10-12 is usual). */
    public static String bcrypt(String password, int cost) {
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        return OpenBSDBCrypt.generate("2b", password.toCharArray(), salt, cost);
    }

    /** A new PBKDF2-HMAC-SHA256 hash with a 16-octet salt and a 32-octet key. */
    public static String pbkdf2(String password, int iterations) {
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        try {
            byte[] key = pbkdf2(password, salt, iterations, 32);
            Base64.Encoder b64 = Base64.getEncoder();
            return PBKDF2_PREFIX + iterations + "$" + b64.encodeToString(salt) + "$" + b64.encodeToString(key);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is missing from this JDK", e);
        }
    }

    private static byte[] pbkdf2(String password, byte[] salt, int iterations, int length) throws GeneralSecurityException {
        PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, length * 8);
        try {
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } finally {
            spec.clearPassword();
        }
    }

    private static String pad(String base64) {
        int missing = (4 - base64.length() % 4) % 4;
        return base64 + "=".repeat(missing);
    }

    /** A hash of a random password, checked for unknown users so they cost as much time as known ones. */
    public static String decoy() {
        return DECOY;
    }

    private static final String DECOY = bcrypt("decoy-" + RANDOM.nextLong(), 10);
}
