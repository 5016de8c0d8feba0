package org.smtptlsproxy.spool;

import java.util.concurrent.CompletionStage;

/**
 * Sends one spooled message upstream to its pending recipients (the integrator implements it over
 * the upstream pool: same STARTTLS, TLS 1.2+, AUTH and fallback hosts as cut-through). It must
 * complete, normally with a result for each recipient it tried; an exceptional completion counts
 * as a transient failure for every pending recipient.
 */
public interface SpoolSender {

    CompletionStage<AttemptResult> send(SpooledMessage message);
}
