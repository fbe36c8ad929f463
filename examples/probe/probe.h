// securesocket-probe: what one probe run asks for and what it finds.
#ifndef SECURESOCKET_PROBE_PROBE_H
#define SECURESOCKET_PROBE_PROBE_H

#include <SecureSocket/securesocket.h>

#include <QByteArray>
#include <QList>
#include <QString>

namespace probe {

enum Exit { Verified = 0, NoConnection = 1, VerificationFailed = 2, UsageError = 64 };

struct Options
{
    QString host; // as connected to: a name or an address, without IPv6 brackets
    quint16 port = 443;
    QString starttls;   // "imap", "smtp", "pop3", or empty for TLS at once
    QString serverName; // sent as SNI (unless an address) and verified; default host
    QString caFile;
    QString caPath;
    bool systemCa = true; // trusted in addition to caFile / caPath
    QString clientCert;
    QString clientKey;
    QList<QByteArray> alpn;   // offered, in order; empty offers none
    int timeoutMsecs = 10000; // for each step: TCP connect, each STARTTLS answer, the handshake
    bool json = false;
};

// One connection, as far as it got.
struct Attempt
{
    bool connected = false; // TCP (and STARTTLS, when asked for) done
    bool encrypted = false;
    QString failure;       // why not, one sentence, when !encrypted
    QString failedStep;    // then: "connect", "starttls", "handshake" or "after-handshake"
    QString address;       // the peer's address connected to
    QString starttlsReply; // the server's answer to STARTTLS
    QString protocol;
    QString cipher;
    QString group;
    QByteArray alpn;
    qint64 handshakeMsecs = -1;
    bool resumed = false;
    SecureSocket::OcspStatus ocsp = SecureSocket::OcspNone;
    QList<SecureCertificate> chain; // as the server sent it, its own first
    QList<SecureCertificateError> verifyErrors;
};

struct Resumption
{
    bool tested = false;
    bool resumed = false;
    bool verified = false; // tested with verification on (else on two unverified connections)
    QString note;
};

struct Findings
{
    Attempt first;
    Resumption resumption;
};

// The settings every connection of the run uses (verification reports, never aborts).
SecureConfiguration configurationFor(const Options &options);

// Connects once (TCP, STARTTLS if asked, the handshake) and reads what the handshake gave.
Attempt connectOnce(const Options &options, const SecureConfiguration &config, bool waitForTickets);

// The whole run: the first connection, then the resumption test.
Findings run(const Options &options, const SecureConfiguration &config);

} // namespace probe

#endif
