// "Connect, wait for encrypted, check": the one handshake helper of the socket-level tests.
// Each function returns an empty string when everything holds, otherwise a sentence saying what
// did not, followed by the context the caller gives (a peer's describe(), a signal log), for
//   const QString failure = testsupport::connectEncrypted(...);
//   QVERIFY2(failure.isEmpty(), qPrintable(failure));
#ifndef SECURESOCKET_TESTS_HANDSHAKE_H
#define SECURESOCKET_TESTS_HANDSHAKE_H

#include <SecureSocket/securesocket.h>

#include <QByteArray>
#include <QObject>
#include <QString>

#include <functional>

namespace testsupport {

constexpr int kHandshakeMsecs = 10000;

// What an established session must show; an empty field is not checked.
struct Expected
{
    Expected(const QString &protocol = {}, const QString &cipher = {}, const QString &group = {},
             const QByteArray &alpn = {})
        : protocol(protocol), cipher(cipher), group(group), alpn(alpn)
    {}

    QString protocol; // sessionProtocol(): "TLSv1.2", "TLSv1.3"
    QString cipher;   // sessionCipher()
    QString group;    // sessionKeyExchangeGroup()
    QByteArray alpn;  // negotiatedAlpnProtocol()
};

using Context = std::function<QString()>;

// Counts a socket's encrypted() and errorOccurred() from the moment it is made.
class HandshakeWatch
{
public:
    explicit HandshakeWatch(SecureSocket *socket);
    int encryptedCount() const { return m_encrypted; }
    int errorCount() const { return m_errors; }
    // Runs the event loop until encrypted() or errorOccurred() came, or msecs passed; then
    // checkEncrypted(). Also fails, saying so, when the handshake did not end in time.
    QString wait(const Expected &expected = {}, const Context &context = {},
                 int msecs = kHandshakeMsecs) const;

private:
    QObject m_receiver;
    SecureSocket *m_socket;
    int m_encrypted = 0;
    int m_errors = 0;
    QString m_firstError;
};

// socket emitted encrypted() exactly once (encryptedSignals), is encrypted, and its session
// matches expected.
QString checkEncrypted(const SecureSocket &socket, int encryptedSignals, const Expected &expected,
                       const Context &context = {});

// socket.connectToHostEncrypted(host, port), then HandshakeWatch::wait().
QString connectEncrypted(SecureSocket &socket, const QString &host, quint16 port,
                         const Expected &expected = {}, const Context &context = {},
                         int msecs = kHandshakeMsecs);

} // namespace testsupport

#endif
