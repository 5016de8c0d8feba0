package org.smtptlsproxy.config;

import java.nio.file.Path;
import java.util.Map;

/** Inbound SMTP AUTH: {@code users} maps user name to its password hash as read from the users file. */
public record InboundAuth(boolean required, boolean allowPlaintext, Path usersFile, Map<String, String> users) {

    public InboundAuth {
        users = Map.copyOf(users);
    }

    @Override
    public String toString() {
        return "InboundAuth[required=" + required + ", allowPlaintext=" + allowPlaintext
                + ", usersFile=" + usersFile + ", users=" + users.size() + "]";
    }
}
