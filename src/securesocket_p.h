// Internal: SecureSocket's state. The socket drives the engine; the engine never calls back
// into the socket. Signals are emitted from pump() and the few plain-socket slots only.
// securesocketprivate.cpp holds this class (the driver); securesocket.cpp the public API.
#ifndef SECURESOCKET_SECURESOCKET_P_H
#define SECURESOCKET_SECURESOCKET_P_H

#include <SecureSocket/securesocket.h>

#include "connection.h"

#include <QByteArray>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QLoggingCategory>

#include <deque>
#include <functional>
#include <memory>

class FdStream;
class QTimer;
class SecureSocketPrivate;

Q_DECLARE_LOGGING_CATEGORY(lcSecureSocket)

// The adopted descriptor as one engine call sees it (engine::Io), passed to each call: records
// go to the kernel as OpenSSL makes them, without a copy into the engine's output
// (flushOutput() accounts for them), and OpenSSL receives straight into its record buffer.
class StreamIo final : public securesocket::engine::Io
{
public:
    explicit StreamIo(SecureSocketPrivate &d) : d(d) {}
    size_t send(const char *data, size_t size) override;
    size_t receive(char *buffer, size_t capacity) override;

private:
    SecureSocketPrivate &d;
};

class SecureSocketPrivate
{
public:
    explicit SecureSocketPrivate(SecureSocket *q);
    ~SecureSocketPrivate();

    // Plain-socket signal handlers.
    void onPlainStateChanged(QAbstractSocket::SocketState state);
    void onPlainConnected();
    void onPlainReadyRead();
    void onPlainDisconnected();

    // The transport: the adopted descriptor once there is one, else the plain socket.
    void onTransportWritten(qint64 bytes);
    void onTransportError(QAbstractSocket::SocketError error, const QString &message, bool reset);
    void adoptDescriptor();
    void onStreamEnded();
    void streamGone(bool closing);
    bool transportConnected() const;
    qint64 transportRead(char *data, qint64 maxSize);
    qint64 transportBytesToWrite() const;
    bool transportFlush();
    void transportDisconnect();

    // The life of a connection.
    void beginConnect(const QString &host, quint16 port, QIODevice::OpenMode mode,
                      QAbstractSocket::NetworkLayerProtocol protocol, bool encrypt);
    bool startEncryption(securesocket::engine::Role role);
    void discardStalePlaintext(securesocket::engine::Role role);
    void disconnectFromHost();
    void beginTlsClose();
    void finishTlsCloseIfDone();
    void abortConnection();
    void reset();         // before a new connection
    void endConnection(); // the transport is gone: nothing of it may outlive it
    void resetAccounting();

    // Driving the engine.
    void pump();
    void schedulePump();
    void pullCiphertext();
    bool drainPlaintext(bool ignoreLimit);
    void pullThroughSource();
    void flushOutput();
    void handleEvents();
    void onCloseNotify();
    void reportVerifyFailures();
    void handleFailure();
    void drainAtEof();
    void emitReadyReadIfNew();

    // Reporting.
    void setError(QAbstractSocket::SocketError error, SecureSocket::TlsError tlsError,
                  const QString &message);
    void setMode(SecureSocket::Mode mode);
    void setState(QAbstractSocket::SocketState state);
    void mirrorAddresses();
    void clearAddresses();

    // Timeouts (securesockettimeouts.cpp): the handshake's, and the idle one once encrypted.
    void startHandshakeTimer();
    void onHandshakeTimeout();
    void startIdleTimer();
    void onIdleCheck();
    void stopTimers();
    void connectionEnded();
    QString peerDescription() const; // "host:port", for messages

    // Runs the transport without an event loop until done() or the time is up.
    bool waitFor(int msecs, const std::function<bool()> &done);

    qint64 plaintextBuffered() const { return m_in.size() - m_inOffset; }
    // Decrypted bytes the application has not read: ours and those QIODevice buffered.
    qint64 plaintextHeld() const { return plaintextBuffered() + q->QIODevice::bytesAvailable(); }
    bool isTlsActive() const { return m_engine != nullptr; }
    // Reads and writes go through TLS (from the start of encryption to the next connection).
    bool isTlsMode() const { return m_mode != SecureSocket::UnencryptedMode; }

    SecureSocket *q;
    QTcpSocket *m_plain;
    std::unique_ptr<FdStream> m_stream; // the descriptor, once adopted from m_plain
    bool m_streamEnded = false;         // m_stream's read found the end, to report after pump()
    bool m_disconnectWhenFlushed = false;
    qint64 m_sunk = 0;        // ciphertext m_streamIo sent, not yet in m_marks
    bool m_sourceDry = false; // m_streamIo's last receive emptied the kernel
    StreamIo m_streamIo{*this};
    // What each engine call is given: the descriptor once adopted, else nothing (the driver
    // then moves the bytes itself).
    securesocket::engine::Io *engineIo() { return m_stream ? &m_streamIo : nullptr; }
    QTimer *m_closeTimer; // pokes finishTlsCloseIfDone() when the peer is slow to answer
    SecureConfiguration m_config;
    std::unique_ptr<securesocket::engine::Connection> m_engine;
    SecureSocket::Mode m_mode = SecureSocket::UnencryptedMode;
    SecureSocket::TlsError m_tlsError = SecureSocket::NoTlsError;
    QString m_verifyName;   // the host given to connectToHost*()
    quint16 m_hostPort = 0; // and the port: peerPort() is known only once connected
    bool m_encryptOnConnect = false;
    bool m_encrypted = false;
    bool m_closeAfterConnect =
        false;                 // disconnectFromHost() before connectToHostEncrypted() connected
    bool m_peerReset = false;  // the transport ended with a reset, not an orderly close
    bool m_halfClosed = false; // our TCP direction was shut down after close_notify
    bool m_closing = false;    // we sent (or queued) close_notify and wait for the peer's
    QDeadlineTimer m_closeDeadline; // when we stop waiting for it
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
    qint64 m_plainFlushed = 0;   // encrypted and handed to the transport
    qint64 m_plainWritten = 0;   // confirmed written by the transport

    bool m_pumping = false;
    bool m_pumpAgain = false;
    bool m_pumpScheduled = false;

    // Ciphertext moved either way (received and handed to the transport): progress, for the
    // idle timeout and for SecureServer's view of a handshake.
    qint64 m_wireBytes = 0;
    qint64 m_wireBytesSeen = 0;   // at the last idle check
    QElapsedTimer m_lastActivity; // since the idle check last saw m_wireBytes change
    int m_idleTimeout = 0;
    bool m_serverManaged = false; // SecureServer times the handshake, not the socket
    // Called once, from the socket's thread, when the connection ends (the socket becomes
    // unconnected, or is destroyed): SecureServer counts its open connections with it, where
    // a signal connection could be cut by the application's disconnect().
    std::function<void()> m_onConnectionEnd;
    QTimer *m_handshakeTimer = nullptr; // created on first use
    QTimer *m_idleTimer = nullptr;
};

#endif
