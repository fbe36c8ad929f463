// doc/migrating.md, "From QSslSocket": a QSslSocket client and a QSslServer (before), the same
// with SecureSocket and SecureServer (after), and the one-line migration helper. Built by the
// suite (snippet_migrate_qsslsocket); run without arguments it only builds the objects.
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QDebug>
#include <QFile>
#include <QSslCipher>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>

//! [client-before]
void connectWithQt(QSslSocket *socket, const QSslCertificate &expectedSelfSigned)
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.addCaCertificates(QStringLiteral("ca.pem"));
    config.setLocalCertificateChain(QSslCertificate::fromPath(QStringLiteral("client.pem")));
    QFile keyFile(QStringLiteral("client.key"));
    if (keyFile.open(QIODevice::ReadOnly))
        config.setPrivateKey(QSslKey(&keyFile, QSsl::Ec, QSsl::Pem, QSsl::PrivateKey, "secret"));
    config.setProtocol(QSsl::TlsV1_2OrLater);
    config.setAllowedNextProtocols({QByteArrayLiteral("imap")});
    socket->setSslConfiguration(config);
    // Forgive one failure, for one certificate only.
    socket->ignoreSslErrors({QSslError(QSslError::SelfSignedCertificate, expectedSelfSigned)});

    QObject::connect(socket, &QSslSocket::sslErrors, socket, [](const QList<QSslError> &errors) {
        for (const QSslError &error : errors)
            qWarning() << error.errorString();
    });
    QObject::connect(socket, &QSslSocket::encrypted, socket, [socket] {
        qInfo() << socket->sessionProtocol() << socket->sessionCipher().name();
    });
    socket->connectToHostEncrypted(QStringLiteral("mail.example.com"), 993);
}
//! [client-before]

//! [client-after]
void connectWithSecureSocket(SecureSocket *socket, const SecureCertificate &expectedSelfSigned)
{
    SecureConfiguration config;                             // TLS 1.2 minimum already
    config.setCaCertificatesFile(QStringLiteral("ca.pem")); // on top of the system CAs
    config.setLocalCertificateChainFile(QStringLiteral("client.pem"));
    config.setPrivateKeyFile(QStringLiteral("client.key")); // any key type, read on use
    config.setPrivateKeyPassphrase("secret");               // wiped when released
    config.setAlpnProtocols({QByteArrayLiteral("imap")});
    socket->setConfiguration(config);
    // Forgive one failure, for one certificate only.
    SecureCertificateError selfSigned;
    selfSigned.error = VerifyError::SelfSigned;
    selfSigned.certificate = expectedSelfSigned;
    socket->ignoreCertErrors({selfSigned});

    QObject::connect(socket, &SecureSocket::certCheckFailed, socket,
                     [](int code, const QString &reason) {
                         qWarning() << verifyErrorName(static_cast<VerifyError>(code)) << reason;
                     });
    QObject::connect(socket, &SecureSocket::encrypted, socket, [socket] {
        qInfo() << socket->sessionProtocol() << socket->sessionCipher(); // two QStrings
    });
    socket->connectToHostEncrypted(QStringLiteral("mail.example.com"), 993);
}
//! [client-after]

//! [helper]
// A step on the way: keep building the QSslConfiguration, hand it over as it is.
void connectWithQtSettings(SecureSocket *socket, const QSslConfiguration &qtConfig)
{
    socket->setConfiguration(qtConfig); // CAs, certificate, key, verify mode, protocols, ALPN
    socket->connectToHostEncrypted(QStringLiteral("mail.example.com"), 993);
}
//! [helper]

//! [server-before]
bool serveWithQt(QSslServer *server)
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setLocalCertificateChain(QSslCertificate::fromPath(QStringLiteral("server.pem")));
    QFile keyFile(QStringLiteral("server.key"));
    if (keyFile.open(QIODevice::ReadOnly))
        config.setPrivateKey(QSslKey(&keyFile, QSsl::Rsa));
    config.setCaCertificates(QSslCertificate::fromPath(QStringLiteral("clients-ca.pem")));
    config.setPeerVerifyMode(QSslSocket::VerifyPeer); // two-way TLS
    server->setSslConfiguration(config);
    server->setHandshakeTimeout(5000);
    QObject::connect(server, &QSslServer::errorOccurred, server,
                     [](QSslSocket *socket, QAbstractSocket::SocketError) {
                         qWarning() << socket->errorString();
                     });
    QObject::connect(server, &QTcpServer::pendingConnectionAvailable, server, [server] {
        while (QTcpSocket *connection = server->nextPendingConnection())
            connection->write("hello\n");
    });
    return server->listen(QHostAddress::LocalHost, 8443);
}
//! [server-before]

//! [server-after]
bool serveWithSecureServer(SecureServer *server)
{
    SecureConfiguration config;
    config.setLocalCertificateChainFile(QStringLiteral("server.pem"));
    config.setPrivateKeyFile(QStringLiteral("server.key"));
    config.setCaCertificatesFile(QStringLiteral("clients-ca.pem"));
    config.setUseSystemCaCertificates(false); // only our own clients' CA
    server->setConfiguration(config);
    server->setClientCertificatePolicy(SecureServer::RequireClientCertificate); // two-way TLS
    server->setHandshakeTimeout(5000);                                          // the default
    QObject::connect(server, &SecureServer::handshakeFailed, server,
                     [](SecureSocket *, const QString &reason) { qWarning() << reason; });
    QObject::connect(server, &QTcpServer::pendingConnectionAvailable, server, [server] {
        while (SecureSocket *connection = server->nextPendingSecureConnection())
            connection->write("hello\n");
    });
    if (!server->listen(QHostAddress::LocalHost, 8443)) {
        qWarning() << server->errorString(); // names the file and the cause
        return false;
    }
    return true;
}
//! [server-after]

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    SecureSocket socket;
    SecureServer server;
    if (argc < 2)
        return 0;
    connectWithSecureSocket(&socket, SecureCertificate());
    return serveWithSecureServer(&server) ? app.exec() : 1;
}
