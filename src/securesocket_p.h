// Internal: SecureSocket's state. Unencrypted, SecureSocket is its inner QTcpSocket (m_tcp)
// seen through SecureSocket's API. From the start of TLS (or from connectToHostEncrypted()) the
// driver talks to one Transport (transport_p.h): the adopted descriptor, or m_tcp itself.
// The driver drives the engine: it passes ciphertext in (the engine reads straight from the
// transport during a call), takes the engine's output and hands it to the transport, and
// emits the signals for what the engine reports, one event at a time. Files:
//   securesocketprivate.cpp  the life of a connection: connecting, the TCP socket's
//                            signals, the start of TLS, closing and aborting, reporting
//   tlsdriver.cpp            the engine driven over the transport: receiving, the coalesced
//                            writes, engine events and failures, waiting without an event loop
//   securesockettimeouts.cpp the handshake and idle timeouts
#ifndef SECURESOCKET_SECURESOCKET_P_H
#define SECURESOCKET_SECURESOCKET_P_H

#include <SecureSocket/securesocket.h>

#include "connection.h"
#include "transport_p.h"

#include <QBasicTimer>
#include <QByteArray>
#include <QElapsedTimer>
#include <QLoggingCategory>

#include <functional>
#include <memory>
#include <vector>

class QTimer;

Q_DECLARE_LOGGING_CATEGORY(lcSecureSocket)
// The engine's trace (src/engine/trace.h), at debug level; see doc/debugging.md.
Q_DECLARE_LOGGING_CATEGORY(lcSecureEngine)

class SecureSocketPrivate final : public TransportClient
{
public:
    explicit SecureSocketPrivate(SecureSocket *q);
    ~SecureSocketPrivate();

    QTcpSocket *tcp(); // m_tcp, made if there is none
    // The TCP socket of a plain connection: m_tcp, or one made for a descriptor given
    // without one; null when there is no connection.
    QTcpSocket *plainTcp();
    void releaseTcp();
    // The TCP socket's signals (connecting, and the whole connection while unencrypted).
    void onTcpStateChanged(QAbstractSocket::SocketState state);
    void onTcpConnected();
    void onTcpReadyRead();
    void onTcpError(QAbstractSocket::SocketError error);
    void onTcpDisconnected();

    // The life of a connection.
    enum class Encryption { None, OnConnect };
    void beginConnect(const QString &host, quint16 port, QIODevice::OpenMode mode,
                      QAbstractSocket::NetworkLayerProtocol protocol, Encryption encryption);
    bool startEncryption(securesocket::engine::Role role);
    securesocket::engine::PskProvider pskProvider();
    QByteArray takeEarlyBytes(securesocket::engine::Role role);
    void useTransport();
    bool takeDescriptor(qintptr fd, QAbstractSocket::SocketState state, QIODevice::OpenMode mode);
    bool takeAccepted(int fd, QIODevice::OpenMode mode);
    void attachGivenDescriptor();
    void disconnectFromHost();
    void beginTlsClose();
    void closeTransport();
    void onTransportClosed();
    void abortConnection();
    void reset();         // before a new connection
    void endConnection(); // the connection is over: nothing of it may outlive it
    void reportEnd();     // the signals of an ended connection, in QAbstractSocket's order

    // Driving the engine (tlsdriver.cpp).
    void pump();
    void schedulePump();
    bool receive();
    enum class ReadLimit { Respect, Ignore };
    bool drainPlaintext(ReadLimit limit, securesocket::engine::Io *io);
    void discardIncoming();
    void onTransportEnded();
    void queueWrite(const char *data, qint64 size);
    void flushWrites();
    bool canEncrypt() const;
    void encrypt(const char *data, qint64 size);
    void encryptQueued(); // m_out, then wiped
    void scheduleFlush();
    void finishPass();
    void sendOutput();
    void reportBytesWritten();
    // TransportClient: the transport's reports.
    void readable() override { pump(); }
    void written(qint64 bytes) override;
    bool wantsWritten() const override;
    bool collectsWritten() const override;
    void handleEvents();
    void handleEvent(const securesocket::engine::Event &event);
    void onCloseNotify();
    void reportVerifyFailures();
    void handleFailure();
    void emitReadyReadIfNew();
    // Runs the connection without an event loop until done() or the time is up (-1: no
    // limit).
    bool waitFor(int msecs, const std::function<bool()> &done);

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
    // The engine's buffers, released once the connection has been quiet for a whole period of
    // kReleaseDelayMs while holding them (so 20 to 40 ms after its last pass).
    static constexpr int kReleaseDelayMs = 20;
    void watchIdleBuffers();
    void releaseIdleBuffers(); // the timer's end (SecureSocket::timerEvent())
    // A busy connection (watchIdleBuffers() waits to release) keeps m_in's capacity too.
    bool keepsBuffers() const;
    static bool holdsIdleBuffers(const SecureSocket &socket); // testing::holdsIdleBuffers()
    void connectionEnded();
    QString peerDescription() const; // "host:port", for messages

    qint64 plaintextBuffered() const { return m_in.size() - m_inOffset; }
    // Decrypted bytes the application has not read: ours and those QIODevice buffered.
    qint64 plaintextHeld() const { return plaintextBuffered() + q->QIODevice::bytesAvailable(); }
    // Reads and writes go through TLS: from connectToHostEncrypted() or start*Encryption() to
    // the next connection.
    bool usesTls() const { return m_mode != SecureSocket::UnencryptedMode || m_encryptOnConnect; }
    // Plaintext written and not yet encrypted (QSslSocket's bytesToWrite()).
    qint64 plaintextToWrite() const
    {
        return m_out.size() + (m_engine ? static_cast<qint64>(m_engine->pendingWrite()) : 0);
    }

    SecureSocket *q;
    // The TCP connection as Qt's socket: connecting (host lookup, proxies, bind), then the
    // whole connection while unencrypted; once TLS starts, either its descriptor is adopted
    // (FdTransport, and the socket is let go) or it carries the ciphertext (SocketTransport).
    // Null until needed (see tcp()) and once let go.
    QTcpSocket *m_tcp = nullptr;
    int m_inTcpSignal = 0; // its signals being handled: it is not deleted under them
    std::unique_ptr<Transport> m_transport; // from the start of TLS to the next connection
    // The descriptor given to setSocketDescriptor(), owned until TLS adopts it (the plain
    // socket works on a duplicate), or -1.
    int m_givenFd = -1;
    SecureConfiguration m_config;
    std::unique_ptr<securesocket::engine::Connection> m_engine;
    SecureSocket::Mode m_mode = SecureSocket::UnencryptedMode;
    SecureSocket::TlsError m_tlsError = SecureSocket::NoTlsError;
    QString m_verifyName;            // the host given to connectToHost*()
    quint16 m_hostPort = 0;          // and the port: peerPort() is known only once connected
    bool m_encryptOnConnect = false; // connectToHostEncrypted() before connected()
    bool m_encrypted = false;        // from encrypted() to the end of the connection
    // disconnectFromHost() came before the handshake was done: close once it is.
    bool m_closeWhenEncrypted = false;
    bool m_closing = false; // our close_notify is on its way; nothing more is read
    bool m_ignoreAll = false;
    QList<VerifyError> m_ignoreList;             // forgiven for any certificate
    QList<SecureCertificateError> m_ignoreExact; // forgiven for the certificate named
    QList<SecureCertificateError> m_verifyErrors;
    // Given to setSessionTicket(), for the next client handshake; wiped once used.
    QByteArray m_importedTicket;

    // Decrypted data not yet read by the application.
    QByteArray m_in;
    qint64 m_inOffset = 0;
    qint64 m_readLimit = 0;
    bool m_newPlaintext = false;
    qint64 m_readyReadCount = 0; // readyRead() emissions, for waitForReadyRead()

    // Plaintext written by the application, encrypted together at the end of the event-loop
    // pass (or once kCoalesceLimit bytes wait), so that many small writes make full records
    // and one send(). Counted for bytesWritten() once encrypted and handed to the transport.
    QByteArray m_out;
    qint64 m_plainSubmitted = 0; // written by the application
    qint64 m_plainReported = 0;  // announced by bytesWritten()
    bool m_flushScheduled = false;
    // Passes in progress (pump(), finishPass(), a written() report; a slot may wait, which
    // pumps again): writes made meanwhile leave at the pass's end, not from a posted event.
    int m_passDepth = 0;
    bool m_pumpScheduled = false;
    // Engine events taken and not yet handled: handled one at a time, in order, also when a
    // slot runs a nested event loop or waits.
    // (A vector, not a deque: an idle socket keeps no allocation for it.)
    std::vector<securesocket::engine::Event> m_events;
    size_t m_nextEvent = 0;

    // Ciphertext moved either way: progress, for the idle timeout and for SecureServer's view
    // of a handshake.
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
    QBasicTimer m_releaseTimer;     // of q, while the engine keeps idle buffers
    bool m_passedSinceTick = false; // a pass ran since the release timer's last period began
};

#endif
