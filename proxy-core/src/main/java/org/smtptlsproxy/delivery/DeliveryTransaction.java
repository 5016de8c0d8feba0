package org.smtptlsproxy.delivery;

import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.Future;
import org.smtptlsproxy.smtp.MailPath;
import org.smtptlsproxy.smtp.SmtpReply;

/**
 * The delivery side of one mail transaction, from MAIL to the reply to its data. The session calls
 * it in protocol order and may call the next method before the previous reply is in (pipelining,
 * RFC 2920). Every reply future completes, with the reply the client is to get (a failure
 * counts as a lost upstream); none ever fails for a reason the session must interpret.
 *
 * <p>The session has validated every command before it gets here; what is left to decide here
 * is what only the delivery knows (the upstream's answer, the room in a queue).
 */
public interface DeliveryTransaction {

    /** The envelope's sender. A reply other than 2xx ends the transaction. */
    Future<SmtpReply> mail(MailPath sender);

    /** One recipient; a 2xx means it is accepted. */
    Future<SmtpReply> rcpt(MailPath recipient);

    /**
     * The DATA command. A 354 means content may follow; anything else ends the data phase. The
     * session may still refuse a 354 (no recipient accepted after all): it then calls
     * {@link #abort}.
     */
    Future<SmtpReply> data();

    /**
     * A chunk of message content, in its wire form: CRLF lines, dot-stuffed, without the final
     * {@code .CRLF}. The first chunk is the Received: header. Ownership passes here.
     */
    void content(ByteBuf chunk);

    /** False while the delivery wants no more content; see {@link #onWritable}. */
    boolean isWritable();

    /** Called (on the event loop) whenever the delivery becomes writable again during the data. */
    void onWritable(Runnable listener);

    /**
     * Non-null once the delivery cannot take this message any more (the upstream is lost, the
     * disk is full): the reply for the client after its terminator. The session then discards the
     * rest of the content and calls {@link #abort}.
     */
    SmtpReply failure();

    /** The last chunk (possibly empty) and the end of the content: completes with the final reply. */
    Future<SmtpReply> endOfData(ByteBuf last);

    /**
     * The proxy ends this transaction without delivering it (during the data, or refusing a
     * 354): nothing of it may ever be delivered.
     */
    void abort(String reason);

    /** RSET, EHLO or QUIT before the data: the transaction is dropped, nothing was delivered. */
    void reset();

    /**
     * True when a 2xx to the end of data means the proxy has stored the message to deliver it
     * later, not that the upstream has it: such a transaction is counted as spooled.
     */
    default boolean keepsMessage() {
        return false;
    }

    /** The outbound TLS protocol the transaction used, for the transaction log ("none" if none). */
    String tlsProtocol();

    /** The outbound TLS cipher the transaction used, for the transaction log ("none" if none). */
    String tlsCipher();
}
