package org.smtptlsproxy.delivery;

/**
 * The delivery side of one client connection. It may keep state from one transaction to the next
 * (cut-through keeps the client's upstream session). At most one transaction is open at a time.
 */
public interface DeliverySession {

    /** A new transaction, for a MAIL the session has found acceptable itself. */
    DeliveryTransaction begin(TransactionFacts facts);

    /** The client connection is gone. An open transaction has been aborted before this. */
    void close();
}
