// securesocket-probe: the plain-text dialogues that upgrade a mail connection to TLS.
#ifndef SECURESOCKET_PROBE_STARTTLS_H
#define SECURESOCKET_PROBE_STARTTLS_H

#include <QString>

class QTcpSocket;

namespace probe {

struct StarttlsResult
{
    bool accepted = false;
    QString reply;   // the server's answer to the STARTTLS command (or its last line)
    QString failure; // a sentence saying what went wrong, when not accepted
};

// True for "imap", "smtp" and "pop3".
bool isStarttlsProtocol(const QString &protocol);
// The usual port of the protocol's plain-text service (143, 25, 110).
quint16 starttlsDefaultPort(const QString &protocol);

// Runs the dialogue on a connected socket, up to the server's "go ahead"; each answer must come
// within msecs. Nothing after that answer is read, so the next byte is the server's TLS.
StarttlsResult upgrade(QTcpSocket &socket, const QString &protocol, int msecs);

} // namespace probe

#endif
