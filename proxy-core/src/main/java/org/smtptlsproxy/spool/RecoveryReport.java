package org.smtptlsproxy.spool;

import java.util.List;

/**
 * What the store found at start: messages recovered, temp files of interrupted writes deleted (none
 * of them ever got a 250), envelope sidecars without their message file deleted (an interrupted
 * removal), and the files moved to {@code corrupt/} with the reason for each.
 */
public record RecoveryReport(int recovered, int tempFilesDeleted, int orphansDeleted, List<String> corrupt) {

    public RecoveryReport {
        corrupt = List.copyOf(corrupt);
    }
}
