"""Sends one message the way an application does with Python's standard smtplib.

usage: smtplib_send.py HOST PORT MODE CAFILE USER PASSWORD FROM TO MESSAGE_FILE
MODE is starttls, ssl or plain; USER "-" means no AUTH. Prints the reply to end-of-data as
"DATA-REPLY <code> <text>" and the negotiated TLS version as "TLS <version>"; exits 1 on failure.
"""
import smtplib
import ssl
import sys


def main():
    host, port, mode, cafile, user, password, sender, recipient, message_file = sys.argv[1:10]
    context = ssl.create_default_context(cafile=cafile)
    if mode == "ssl":
        client = smtplib.SMTP_SSL(host, int(port), context=context, timeout=60)
    else:
        client = smtplib.SMTP(host, int(port), timeout=60)
    client.ehlo("python-app.interop.test")
    if mode == "starttls":
        client.starttls(context=context)
        client.ehlo("python-app.interop.test")
    if hasattr(client.sock, "version"):
        print("TLS", client.sock.version())
    if user != "-":
        client.login(user, password)
    with open(message_file, "rb") as f:
        message = f.read()
    options = ["BODY=8BITMIME"] if client.has_extn("8bitmime") else []
    code, reply = client.mail(sender, options)
    if code != 250:
        print("MAIL refused", code, reply.decode())
        return 1
    code, reply = client.rcpt(recipient)
    if code not in (250, 251):
        print("RCPT refused", code, reply.decode())
        return 1
    code, reply = client.data(message)
    print("DATA-REPLY", code, reply.decode())
    client.quit()
    return 0 if code == 250 else 1


if __name__ == "__main__":
    sys.exit(main())
