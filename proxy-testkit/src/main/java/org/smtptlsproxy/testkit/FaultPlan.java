package org.smtptlsproxy.testkit;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Faults drawn per connection and per transaction, for load runs in which the upstream misbehaves
 * at random. Called from the fake upstream's event loops, so implementations must be thread-safe.
 */
public interface FaultPlan {

    /** Faults that can strike a new connection, before any transaction. */
    List<Fault> CONNECTION_FAULTS = List.of(Fault.REFUSE_CONNECTION, Fault.BANNER_421, Fault.SILENT, Fault.EHLO_5XX);

    /** Faults that can strike one transaction, at each of its stages. */
    List<Fault> TRANSACTION_FAULTS = List.of(Fault.MAIL_4XX, Fault.MAIL_5XX, Fault.STALL_AT_MAIL, Fault.RCPT_4XX,
            Fault.RCPT_5XX, Fault.DATA_4XX, Fault.DROP_MID_DATA, Fault.SILENT_AT_DATA_END, Fault.DROP_AFTER_DATA_END,
            Fault.DATA_END_4XX, Fault.DATA_END_5XX);

    /** The fault of a new connection, or null. */
    Fault forConnection();

    /** The fault of the transaction whose MAIL names {@code sender}, or null. */
    Fault forTransaction(String sender);

    /** Each connection and each transaction struck with the given odds, by a fault of its kind chosen evenly. */
    static FaultPlan random(long seed, double connectionOdds, double transactionOdds) {
        SplittableRandom root = new SplittableRandom(seed);
        return new FaultPlan() {
            @Override
            public synchronized Fault forConnection() {
                return root.nextDouble() < connectionOdds ? CONNECTION_FAULTS.get(root.nextInt(CONNECTION_FAULTS.size())) : null;
            }

            @Override
            public synchronized Fault forTransaction(String sender) {
                return root.nextDouble() < transactionOdds ? TRANSACTION_FAULTS.get(root.nextInt(TRANSACTION_FAULTS.size())) : null;
            }
        };
    }
}
