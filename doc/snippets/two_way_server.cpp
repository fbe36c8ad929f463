// doc/certificates.md: a SecureServer that requires a client certificate issued by the private
// CA (two-way TLS), with an encrypted private key. It echoes every line and prints who sent it.
// Usage: two_way_server CERT-FILE KEY-FILE PASSPHRASE-FILE CA-FILE
// Listens on 127.0.0.1, on a free port, which it prints.
#include <SecureSocket/secureserver.h>

#include <QCoreApplication>

#include <cstdio>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() != 5) {
        std::fprintf(stderr, "usage: two_way_server CERT-FILE KEY-FILE PASSPHRASE-FILE CA-FILE\n");
        return 64;
    }
    //! [server]
    SecureConfiguration config;
    config.setLocalCertificateChainFile(args[1]); // server.pem
    config.setPrivateKeyFile(args[2]);            // server.key
    config.setPrivateKeyPassphraseFile(args[3]);  // empty for a plain key
    config.setCaCertificatesFile(args[4]);        // ca.pem: issued the client certificates
    config.setUseSystemCaCertificates(false);     // no public CA issues our clients

    SecureServer server;
    server.setConfiguration(config);
    server.setClientCertificatePolicy(SecureServer::RequireClientCertificate);
    QObject::connect(&server, &SecureServer::handshakeFailed,
                     [](SecureSocket *, const QString &reason) {
                         std::printf("refused: %s\n", qPrintable(reason));
                         std::fflush(stdout);
                     });
    QObject::connect(&server, &SecureServer::newConnection, [&server] {
        while (SecureSocket *socket = server.nextPendingSecureConnection()) {
            std::printf("client: %s\n", qPrintable(socket->peerCertificate().subject()));
            std::fflush(stdout);
            QObject::connect(socket, &SecureSocket::readyRead, socket,
                             [socket] { socket->write(socket->readAll()); });
            QObject::connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
        }
    });
    if (!server.listen(QHostAddress::LocalHost, 0)) { // checks the files and the passphrase
        std::fprintf(stderr, "two_way_server: %s\n", qPrintable(server.errorString()));
        return 1;
    }
    //! [server]
    std::printf("listening on port %u\n", server.serverPort());
    std::fflush(stdout);
    return app.exec();
}
