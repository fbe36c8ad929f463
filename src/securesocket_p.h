// Internal: SecureSocket's state. The socket drives the engine; the engine never calls back
// into the socket. Signals are emitted from pump() and the few plain-socket slots only.
#ifndef SECURESOCKET_SECURESOCKET_P_H
#define SECURESOCKET_SECURESOCKET_P_H

#include <SecureSocket/securesocket.h>

#include "connection.h"

#include <QByteArray>
#include <QPointer>

#include <deque>
#include <functional>
#include <memory>

class SecureSocketPrivate
{
public:
    explicit SecureSocketPrivate(SecureSocket *q);

    // Plain-socket signal handlers.
    void onPlainStateChanged(QAbstractSocket::SocketState state);
    void onPlainConnected();
    void onPlainReadyRead();
    void onPlainBytesWritten(qint64 bytes);
    void onPlainError(QAbstractSocket::SocketError error);
    void onPlainDisconnected();

    void beginConnect(const QString &host, quint16 port, QIODevice::OpenMode mode,
                      QAbstractSocket::NetworkLayerProtocol protocol, bool encrypt);
    bool startEncryption(securesocket::engine::Role role);
    void pump();
    void emitReadyReadIfNew();
    void reportVerifyFailures();
    void pullCiphertext();
    void drainPlaintext(bool ignoreLimit);
    void flushOutput();
    void handleEvents();
    void handleFailure();
    void drainAtEof();
    void finishDisconnect();
    void setError(QAbstractSocket::SocketError error, SecureSocket::TlsError tlsError,
                  const QString &message);
    void setMode(SecureSocket::Mode mode);
    void mirrorAddresses();
    void reset();
    // Runs the plain socket without an event loop until done() or the time is up.
    bool waitFor(int msecs, const std::function<bool()> &done);

    qint64 plaintextBuffered() const { return m_in.size() - m_inOffset; }
    bool isTlsActive() const { return m_engine != nullptr; }

    SecureSocket *q;
    QTcpSocket *m_plain;
    SecureConfiguration m_config;
    std::unique_ptr<securesocket::engine::Connection> m_engine;
    SecureSocket::Mode m_mode = SecureSocket::UnencryptedMode;
    SecureSocket::TlsError m_tlsError = SecureSocket::NoTlsError;
    QString m_verifyName; // the host given to connectToHostEncrypted()
    bool m_encryptOnConnect = false;
    bool m_encrypted = false;
    bool m_disconnectAfterHandshake = false;
    bool m_closeNotifyReceived = false;
    bool m_ignoreAll = false;
    QList<VerifyError> m_ignoreList;
    QList<SecureCertificateError> m_verifyErrors;

    // Decrypted data not yet read by the application.
    QByteArray m_in;
    qint64 m_inOffset = 0;
    qint64 m_readLimit = 0;
    bool m_newPlaintext = false;
    qint64 m_readyReadCount = 0; // readyRead() emissions, for waitForReadyRead()
    QByteArray m_early;          // written after connectToHostEncrypted(), before the handshake

    // Plaintext accounting: bytes given to the engine, and the ciphertext written to the plain
    // socket for them, so that bytesWritten() and bytesToWrite() count plaintext.
    struct WriteMark
    {
        qint64 cipher;
        qint64 plain;
    };
    std::deque<WriteMark> m_marks;
    qint64 m_plainSubmitted = 0; // given to the engine
    qint64 m_plainFlushed = 0;   // encrypted and handed to the plain socket
    qint64 m_plainWritten = 0;   // confirmed written by the plain socket

    bool m_pumping = false;
    bool m_pumpAgain = false;
};

#endif
