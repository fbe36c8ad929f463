// doc/certificates.md: a client that trusts only the private CA and shows its own certificate
// (two-way TLS). It sends one line and prints the server's echo.
// Usage: two_way_client HOST PORT CA-FILE [CERT-FILE KEY-FILE PASSPHRASE-FILE]
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>

#include <cstdio>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() != 4 && args.size() != 7) {
        std::fprintf(stderr, "usage: two_way_client HOST PORT CA-FILE "
                             "[CERT-FILE KEY-FILE PASSPHRASE-FILE]\n");
        return 64;
    }
    //! [configuration]
    SecureConfiguration config;
    config.setCaCertificatesFile(args[3]);    // ca.pem
    config.setUseSystemCaCertificates(false); // trust our private CA only
    if (args.size() == 7) {
        config.setLocalCertificateChainFile(args[4]); // alice.pem
        config.setPrivateKeyFile(args[5]);            // alice.key (encrypted)
        config.setPrivateKeyPassphraseFile(args[6]);  // alice.pass
    }
    const QString problem = config.validate(); // a bad file or passphrase, said now
    if (!problem.isEmpty()) {
        std::fprintf(stderr, "two_way_client: %s\n", qPrintable(problem));
        return 1;
    }
    SecureSocket socket;
    socket.setConfiguration(config);
    //! [configuration]

    //! [session]
    socket.connectToHostEncrypted(args[1], args[2].toUShort());
    QByteArray echo;
    if (socket.waitForEncrypted(5000)) {
        socket.write("hello\n");
        while (!echo.endsWith('\n') && socket.waitForReadyRead(5000))
            echo += socket.readAll();
    }
    if (echo != "hello\n") { // a refused client certificate shows up here in TLS 1.3
        std::fprintf(stderr, "two_way_client: %s\n", qPrintable(socket.errorString()));
        return 1;
    }
    std::printf("echoed by %s over %s\n", qPrintable(socket.peerCertificate().subject()),
                qPrintable(socket.sessionProtocol()));
    socket.disconnectFromHost();
    if (socket.state() != QAbstractSocket::UnconnectedState)
        socket.waitForDisconnected(5000);
    return 0;
    //! [session]
}
