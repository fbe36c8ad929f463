// securesocket-probe: the connections of one run. The first one is verified by the library
// itself (QueryPeer: failures are reported, the handshake still completes, so that everything
// else can be shown); a second one tells whether the server resumes the first one's session.
#include "probe.h"

#include "starttls.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>

namespace probe {

namespace {

QString describeConnectFailure(const SecureSocket &socket, const Options &options)
{
    const QString where = QStringLiteral("%1 port %2").arg(options.host).arg(options.port);
    switch (socket.error()) {
    case QAbstractSocket::ConnectionRefusedError:
        return QStringLiteral("connection refused: nothing listens on %1 (or a firewall "
                              "refuses the connection)")
            .arg(where);
    case QAbstractSocket::HostNotFoundError:
        return QStringLiteral("host not found: %1 does not resolve to an address (%2)")
            .arg(options.host, socket.errorString());
    case QAbstractSocket::SocketTimeoutError:
    case QAbstractSocket::UnknownSocketError:
        if (socket.state() != QAbstractSocket::UnconnectedState ||
            socket.error() == QAbstractSocket::SocketTimeoutError)
            return QStringLiteral("no answer: the TCP connection to %1 was not made within %2 ms "
                                  "(a firewall dropping packets, or a wrong address?)")
                .arg(where)
                .arg(options.timeoutMsecs);
        break;
    default:
        break;
    }
    return QStringLiteral("cannot connect to %1: %2").arg(where, socket.errorString());
}

// A port where mail servers usually expect STARTTLS first, and the --starttls that fits it.
QString starttlsHint(quint16 port)
{
    switch (port) {
    case 25:
    case 587:
        return QStringLiteral("smtp");
    case 143:
        return QStringLiteral("imap");
    case 110:
        return QStringLiteral("pop3");
    default:
        return {};
    }
}

// What a failed or refused handshake most likely wants from the person running the probe.
QString clientCertificateHint(const QString &error, const Options &options)
{
    if (error.contains(QLatin1String("requires a client certificate")) &&
        options.clientCert.isEmpty())
        return QStringLiteral(" (give one with --client-cert FILE --client-key FILE)");
    if (error.contains(QLatin1String("'handshake failure'")) && options.clientCert.isEmpty())
        return QStringLiteral(" (if the server requires a client certificate, give one with "
                              "--client-cert FILE --client-key FILE)");
    if (!options.clientCert.isEmpty() &&
        (error.contains(QLatin1String("'unknown ca'"), Qt::CaseInsensitive) ||
         error.contains(QLatin1String("'bad certificate'"), Qt::CaseInsensitive) ||
         error.contains(QLatin1String("'certificate unknown'"), Qt::CaseInsensitive) ||
         error.contains(QLatin1String("'unsupported certificate'"), Qt::CaseInsensitive)))
        return QStringLiteral(" (the server does not accept the client certificate given)");
    return {};
}

QString describeHandshakeFailure(const SecureSocket &socket, const Options &options)
{
    if (socket.tlsError() == SecureSocket::HandshakeTimedOut ||
        (socket.tlsError() == SecureSocket::NoTlsError &&
         socket.state() == QAbstractSocket::ConnectedState)) {
        QString sentence = QStringLiteral("TLS handshake timed out: the server did not complete "
                                          "the handshake within %1 ms")
                               .arg(options.timeoutMsecs);
        const QString hint = starttlsHint(options.port);
        if (options.starttls.isEmpty() && !hint.isEmpty())
            sentence += QStringLiteral(" (port %1 usually expects STARTTLS first: try "
                                       "--starttls %2)")
                            .arg(options.port)
                            .arg(hint);
        return sentence;
    }
    const QString error = socket.errorString();
    QString sentence = error.startsWith(QLatin1String("TLS handshake"))
                           ? error
                           : QStringLiteral("TLS handshake failed: %1").arg(error);
    if (error.contains(QLatin1String("'protocol version'")))
        sentence += QStringLiteral(" (the server and this client have no TLS version in common; "
                                   "this client speaks TLS 1.2 and 1.3)");
    sentence += clientCertificateHint(error, options);
    const QString hint = starttlsHint(options.port);
    if (options.starttls.isEmpty() && !hint.isEmpty() &&
        error.contains(QLatin1String("not valid TLS")))
        sentence += QStringLiteral(" (port %1 usually expects STARTTLS first: try --starttls %2)")
                        .arg(options.port)
                        .arg(hint);
    return sentence;
}

// TLS 1.3 session tickets come after the handshake, about one round trip after our Finished:
// read for a while so that the library stores them. Plaintext that arrives meanwhile is dropped;
// the wait lasts msecs, or until the connection ends.
void collectTickets(SecureSocket &socket, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    for (int reads = 0; reads < 1000 && !deadline.hasExpired() &&
                        socket.state() == QAbstractSocket::ConnectedState;
         ++reads) {
        if (socket.waitForReadyRead(static_cast<int>(qMax<qint64>(1, deadline.remainingTime()))))
            socket.readAll();
    }
}

void closeGracefully(SecureSocket &socket, int msecs)
{
    if (socket.state() == QAbstractSocket::UnconnectedState)
        return;
    socket.disconnectFromHost();
    if (socket.state() != QAbstractSocket::UnconnectedState)
        socket.waitForDisconnected(msecs);
    socket.abort();
}

} // namespace

SecureConfiguration configurationFor(const Options &options)
{
    SecureConfiguration config;
    config.setPeerVerifyMode(SecureConfiguration::QueryPeer);
    config.setPeerVerifyName(options.serverName);
    if (!options.caFile.isEmpty())
        config.setCaCertificatesFile(options.caFile);
    if (!options.caPath.isEmpty())
        config.setCaCertificatesDirectory(options.caPath);
    config.setUseSystemCaCertificates(options.systemCa);
    if (!options.clientCert.isEmpty()) {
        config.setLocalCertificateChainFile(options.clientCert);
        config.setPrivateKeyFile(options.clientKey);
    }
    config.setAlpnProtocols(options.alpn);
    config.setHandshakeTimeout(options.timeoutMsecs);
    config.setSessionResumption(true);
    return config;
}

Attempt connectOnce(const Options &options, const SecureConfiguration &config, bool waitForTickets)
{
    Attempt attempt;
    SecureSocket socket;
    socket.setConfiguration(config);
    socket.connectToHost(options.host, options.port);
    if (!socket.waitForConnected(options.timeoutMsecs)) {
        attempt.failure = describeConnectFailure(socket, options);
        attempt.failedStep = QStringLiteral("connect");
        socket.abort();
        return attempt;
    }
    attempt.address = socket.peerAddress().toString();
    if (!options.starttls.isEmpty()) {
        const StarttlsResult upgraded = upgrade(socket, options.starttls, options.timeoutMsecs);
        attempt.starttlsReply = upgraded.reply;
        if (!upgraded.accepted) {
            attempt.failure = QStringLiteral("STARTTLS failed: ") + upgraded.failure;
            attempt.failedStep = QStringLiteral("starttls");
            socket.abort();
            return attempt;
        }
    }
    attempt.connected = true;

    QElapsedTimer handshake;
    handshake.start();
    socket.startClientEncryption();
    if (!socket.waitForEncrypted(options.timeoutMsecs)) {
        attempt.failure = describeHandshakeFailure(socket, options);
        attempt.failedStep = QStringLiteral("handshake");
        socket.abort();
        return attempt;
    }
    attempt.handshakeMsecs = handshake.elapsed();
    attempt.encrypted = true;
    attempt.protocol = socket.sessionProtocol();
    attempt.cipher = socket.sessionCipher();
    attempt.group = socket.sessionKeyExchangeGroup();
    attempt.alpn = socket.negotiatedAlpnProtocol();
    attempt.resumed = socket.isSessionResumed();
    attempt.ocsp = socket.ocspStatus();
    attempt.chain = socket.peerCertificateChain();
    attempt.verifyErrors = socket.peerVerifyErrors();
    if (waitForTickets && attempt.protocol == QLatin1String("TLSv1.3")) {
        // Twice the handshake time is about two round trips; at least 500 ms (a busy server may
        // be slow to write them), at most 2 s. (A signal for a stored ticket would end it early.)
        const qint64 wait = qBound(qint64(500), 2 * attempt.handshakeMsecs + 100, qint64(2000));
        collectTickets(socket, static_cast<int>(qMin<qint64>(wait, options.timeoutMsecs)));
        // In TLS 1.3 the client is done before the server has checked what the client sent
        // (its certificate above all): a server that refuses it says so only now.
        if (socket.tlsError() == SecureSocket::AlertReceived) {
            attempt.encrypted = false;
            attempt.failedStep = QStringLiteral("after-handshake");
            attempt.failure = QStringLiteral("the server refused the connection right after the "
                                             "handshake: %1%2")
                                  .arg(socket.errorString(),
                                       clientCertificateHint(socket.errorString(), options));
            socket.abort();
            return attempt;
        }
    }
    closeGracefully(socket, qMin(options.timeoutMsecs, 2000));
    return attempt;
}

Findings run(const Options &options, const SecureConfiguration &config)
{
    Findings findings;
    findings.first = connectOnce(options, config, true);
    if (!findings.first.encrypted)
        return findings;

    Resumption &resumption = findings.resumption;
    if (findings.first.verifyErrors.isEmpty()) {
        const Attempt second = connectOnce(options, config, false);
        resumption.verified = true;
        resumption.tested = second.encrypted;
        resumption.resumed = second.resumed;
        if (!second.encrypted)
            resumption.note =
                QStringLiteral("not tested: the second connection failed: ") + second.failure;
        else if (second.resumed)
            resumption.note = QStringLiteral("the second connection resumed the session of the "
                                             "first");
        else
            resumption.note = QStringLiteral("the server did not resume the session of the "
                                             "first connection (a full handshake again)");
        return findings;
    }
    // The library never reuses a session whose verification failed (a resumed handshake would
    // skip the checks): two more connections without verification tell what the server does.
    SecureConfiguration unverified = config;
    unverified.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    const Attempt seed = connectOnce(options, unverified, true);
    const Attempt second = seed.encrypted ? connectOnce(options, unverified, false) : Attempt();
    resumption.tested = seed.encrypted && second.encrypted;
    resumption.resumed = resumption.tested && second.resumed;
    const QString why = QStringLiteral("tested with two connections made without verification, "
                                       "since sessions whose verification failed are never "
                                       "reused");
    if (!resumption.tested)
        resumption.note = QStringLiteral("not tested: a connection without verification "
                                         "failed: ") +
                          (seed.encrypted ? second.failure : seed.failure);
    else if (resumption.resumed)
        resumption.note = QStringLiteral("the server resumed the session (%1)").arg(why);
    else
        resumption.note = QStringLiteral("the server did not resume the session (%1)").arg(why);
    return findings;
}

} // namespace probe
