// Shared by the socket tests: a run-time PKI written to a temporary directory, a loopback
// server (plain or TLS, built from QTcpServer and SecureSocket), a recorder of socket signals
// and a few helpers. Servers listen on 127.0.0.1, port 0.
#ifndef SECURESOCKET_TESTS_SOCKETFIXTURE_H
#define SECURESOCKET_TESTS_SOCKETFIXTURE_H

#include <SecureSocket/securesocket.h>

#include "peerprocess.h"
#include "pkidirectory.h"
#include "testpki.h"

#include <QAbstractSocket>
#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>
#include <QTcpServer>
#include <QTemporaryDir>

#include <functional>
#include <memory>

// The socket tests' certificates and keys, made for this run in a testpki::PkiDirectory, and the
// files they were written to.
class TestPki
{
public:
    TestPki();

    bool isValid() const { return m_dir.isValid(); }
    // Writes content to a file of the temporary directory and returns its path.
    QString write(const QString &name, const std::string &content) const
    {
        return m_dir.write(name, content);
    }
    // Issues a leaf for spec (signed by issuer, or self-signed) and writes "<name>.pem" and
    // "<name>.key"; returns the certificate's path (the key's is keyFileOf(path)).
    QString issue(const QString &name, const testpki::CertSpec &spec, const testpki::Issued *issuer)
    {
        return m_dir.issue(name, spec, issuer);
    }
    static QString keyFileOf(const QString &certFile)
    {
        return testpki::PkiDirectory::keyFileOf(certFile);
    }

    testpki::Issued ca;           // the CA every client trusts
    testpki::Issued intermediate; // issued by ca; issues chainServer
    testpki::Issued clientCa;     // the CA a mutual-TLS server trusts for client certificates
    QString caFile;
    QString clientCaFile;
    QString serverCert; // localhost + 127.0.0.1, issued by ca
    QString serverKey;
    QString chainServerCert; // leaf then intermediate, for localhost + 127.0.0.1
    QString chainServerKey;
    QString clientCert; // CN=client.test, issued by clientCa
    QString clientKey;

private:
    testpki::PkiDirectory m_dir;
};

// A client configuration that trusts only pki's CA.
SecureConfiguration clientConfiguration(const TestPki &pki);
// A server configuration presenting certFile (key at TestPki::keyFileOf), no client check.
SecureConfiguration serverConfiguration(const QString &certFile);

// What the server saw of one connection.
struct PeerLog
{
    QByteArray received;       // application bytes read
    bool ready = false;        // connected (plain) or encrypted (TLS)
    bool disconnected = false; // disconnected() was emitted
    QList<QAbstractSocket::SocketError> errors;
    SecureSocket::TlsError tlsError = SecureSocket::NoTlsError;
    QString errorString;
    QList<int> alertsReceived; // TLS AlertDescription codes
    QString peerSubject;       // TLS: the client certificate's subject, if any
};

// A loopback server. Plain: each connection is a QTcpSocket. Tls: each is a SecureSocket
// started with startServerEncryption(). SecurePlain: each is a SecureSocket left unencrypted,
// for a script to upgrade (STARTTLS). Every peer logs what it receives; by default it echoes.
class TestServer : public QTcpServer
{
public:
    enum Kind { Plain, Tls, SecurePlain };
    explicit TestServer(Kind kind, const SecureConfiguration &config = {});
    ~TestServer() override;

    bool start(); // listen on 127.0.0.1, port 0
    quint16 port() const { return serverPort(); }

    // Called when a peer is ready (Plain, SecurePlain: at once; Tls: on encrypted()).
    std::function<void(QTcpSocket *peer)> onReady;
    // SecurePlain: called on encrypted(), after an upgrade.
    std::function<void(SecureSocket *peer)> onEncrypted;
    // Called with each chunk a peer reads; the default echoes it back. When readIncoming is
    // false, peers do not read at all.
    std::function<void(QTcpSocket *peer, const QByteArray &data)> onData;
    bool readIncoming = true;
    bool deletePeersOnDisconnect = true;

    QList<std::shared_ptr<PeerLog>> logs; // one per accepted connection, in order
    QList<QPointer<QTcpSocket>> peers;
    QTcpSocket *lastPeer() const { return peers.isEmpty() ? nullptr : peers.last().data(); }
    int livePeers() const;
    QByteArray receivedByAll() const;

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    Kind m_kind;
    SecureConfiguration m_config;
};

// Records, in order, the signals a socket emits that QTcpSocket and SecureSocket share. A state
// change whose argument differs from state() at the time of the signal is recorded as such.
class SignalRecorder
{
public:
    explicit SignalRecorder(QAbstractSocket *socket);
    ~SignalRecorder();
    void clear() { m_events.clear(); }
    QStringList events() const { return m_events; }
    // The same with every run of consecutive readyRead made one: how data is cut into chunks
    // differs between transports, the order of events does not.
    QStringList collapsed() const;

private:
    QObject m_context;
    QStringList m_events;
};

// Runs the event loop until done() returns true (checked every millisecond) or msecs have
// passed; returns done(). Unlike QTRY_*, it does not sleep between checks, for loops that must
// run many rounds quickly.
bool waitUntil(const std::function<bool()> &done, int msecs);

QByteArray pattern(qint64 size, int seed = 0); // deterministic, non-repeating every 256 bytes

// Entries of /proc/self/fd; with kind, only those whose target starts with it ("socket:").
int openFileDescriptors(const QString &kind = {});

#endif
