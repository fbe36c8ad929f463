#include "handshake.h"

#include "peerprocess.h"

namespace testsupport {

namespace {

QString withContext(const QString &failure, const Context &context)
{
    if (failure.isEmpty() || !context)
        return failure;
    return failure + QLatin1Char('\n') + context();
}

QString mismatch(const char *what, const QString &actual, const QString &expected)
{
    return QStringLiteral("%1 is '%2', expected '%3'").arg(QLatin1String(what), actual, expected);
}

} // namespace

HandshakeWatch::HandshakeWatch(SecureSocket *socket) : m_socket(socket)
{
    QObject::connect(socket, &SecureSocket::encrypted, &m_receiver, [this] { ++m_encrypted; });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, &m_receiver, [this, socket] {
        if (m_errors++ == 0)
            m_firstError = QStringLiteral("%1 (%2, tlsError %3)")
                               .arg(socket->errorString())
                               .arg(socket->error())
                               .arg(socket->tlsError());
    });
}

QString HandshakeWatch::wait(const Expected &expected, const Context &context, int msecs) const
{
    const bool ended = waitUntil([this] { return m_encrypted > 0 || m_errors > 0; }, msecs);
    if (!ended) {
        return withContext(QStringLiteral("the handshake did not end within %1 ms (state %2)")
                               .arg(msecs)
                               .arg(m_socket->state()),
                           context);
    }
    if (m_errors > 0 && m_encrypted == 0)
        return withContext(QStringLiteral("the handshake failed: ") + m_firstError, context);
    return checkEncrypted(*m_socket, m_encrypted, expected, context);
}

QString checkEncrypted(const SecureSocket &socket, int encryptedSignals, const Expected &expected,
                       const Context &context)
{
    QStringList failures;
    if (encryptedSignals != 1)
        failures << QStringLiteral("encrypted() was emitted %1 times").arg(encryptedSignals);
    if (!socket.isEncrypted())
        failures << QStringLiteral("isEncrypted() is false: %1").arg(socket.errorString());
    if (!expected.protocol.isEmpty() && socket.sessionProtocol() != expected.protocol)
        failures << mismatch("sessionProtocol()", socket.sessionProtocol(), expected.protocol);
    if (!expected.cipher.isEmpty() && socket.sessionCipher() != expected.cipher)
        failures << mismatch("sessionCipher()", socket.sessionCipher(), expected.cipher);
    if (!expected.group.isEmpty() && socket.sessionKeyExchangeGroup() != expected.group)
        failures << mismatch("sessionKeyExchangeGroup()", socket.sessionKeyExchangeGroup(),
                             expected.group);
    if (!expected.alpn.isEmpty() && socket.negotiatedAlpnProtocol() != expected.alpn)
        failures << mismatch("negotiatedAlpnProtocol()",
                             QString::fromLatin1(socket.negotiatedAlpnProtocol()),
                             QString::fromLatin1(expected.alpn));
    return withContext(failures.join(QStringLiteral("; ")), context);
}

QString connectEncrypted(SecureSocket &socket, const QString &host, quint16 port,
                         const Expected &expected, const Context &context, int msecs)
{
    const HandshakeWatch watch(&socket);
    socket.connectToHostEncrypted(host, port);
    return watch.wait(expected, context, msecs);
}

} // namespace testsupport
