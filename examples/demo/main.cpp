// The demonstration run by the README's first command (scripts/demo.sh): a throwaway CA and
// server certificate, a TLS server and a TLS client over loopback, and what the client
// negotiated and verified.
//   securesocket-demo                      all in this process
//   securesocket-demo --pki DIR            only writes ca.pem, server.pem, server.key to DIR
//   securesocket-demo --connect PORT CA    only the client, to an echo server on localhost
#include <SecureSocket/securesocket.h>

#include "testpki.h"

#include <QCoreApplication>
#include <QDir>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>

namespace {

void say(const QString &line)
{
    std::printf("%s\n", qPrintable(line));
}

// A TLS echo server built from a plain QTcpServer and SecureSocket::startServerEncryption().
class EchoServer : public QTcpServer
{
public:
    explicit EchoServer(const SecureConfiguration &config) : m_config(config) {}

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new SecureSocket(this);
        socket->setConfiguration(m_config);
        socket->setSocketDescriptor(descriptor);
        connect(socket, &SecureSocket::readyRead, socket,
                [socket] { socket->write(socket->readAll()); });
        connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
        socket->startServerEncryption();
    }

private:
    SecureConfiguration m_config;
};

struct Pki
{
    QString caFile, certFile, keyFile;
};

// A throwaway CA and a server certificate for localhost, made now, written to dir only.
Pki makePki(const QString &dir)
{
    testpki::CertSpec caSpec;
    caSpec.commonName = "SecureSocket Demo CA";
    caSpec.isCa = true;
    const testpki::Issued ca = testpki::makeCertificate(caSpec);
    testpki::CertSpec leafSpec;
    leafSpec.commonName = "localhost";
    leafSpec.dnsNames = {"localhost"};
    leafSpec.ipAddresses = {"127.0.0.1"};
    const testpki::Issued leaf = testpki::makeCertificate(leafSpec, &ca);
    const Pki pki{QDir(dir).filePath(QStringLiteral("ca.pem")),
                  QDir(dir).filePath(QStringLiteral("server.pem")),
                  QDir(dir).filePath(QStringLiteral("server.key"))};
    testpki::writeFile(pki.caFile.toStdString(), ca.certPem);
    testpki::writeFile(pki.certFile.toStdString(), leaf.certPem);
    testpki::writeFile(pki.keyFile.toStdString(), leaf.keyPem);
    say(QStringLiteral("Made a throwaway CA \"%1\" and a server certificate for localhost")
            .arg(QString::fromStdString(caSpec.commonName)));
    return pki;
}

// The client: trusts only the demo CA, checks the name "localhost", sends a line and expects
// it back. Returns the exit status.
int runClient(QCoreApplication &app, quint16 port, const QString &caFile)
{
    SecureSocket client;
    client.setCaCertificatesFile(caFile);
    SecureConfiguration clientConfig = client.configuration();
    clientConfig.setUseSystemCaCertificates(false);
    client.setConfiguration(clientConfig);

    const QByteArray message("Hello over TLS!\n");
    int status = 1;
    QObject::connect(&client, &SecureSocket::connected, [] { say(QStringLiteral("Connected")); });
    QObject::connect(&client, &SecureSocket::certCheckFailed, [](int, const QString &reason) {
        say(QStringLiteral("Certificate check failed: ") + reason);
    });
    QObject::connect(&client, &SecureSocket::encrypted, [&] {
        const SecureCertificate cert = client.peerCertificate();
        say(QStringLiteral("Encrypted: protocol %1, cipher %2")
                .arg(client.sessionProtocol(), client.sessionCipher()));
        say(QStringLiteral("Server certificate \"%1\" issued by \"%2\": verified against the "
                           "demo CA for the name localhost")
                .arg(cert.subject(), cert.issuer()));
        client.write(message);
    });
    QObject::connect(&client, &SecureSocket::readyRead, [&] {
        if (!client.canReadLine())
            return;
        const QByteArray echoed = client.readLine();
        say(QStringLiteral("Received: ") + QString::fromUtf8(echoed).trimmed());
        status = echoed == message ? 0 : 1;
        client.disconnectFromHost();
    });
    QObject::connect(&client, &SecureSocket::errorOccurred, [&](QAbstractSocket::SocketError) {
        if (client.error() != QAbstractSocket::RemoteHostClosedError)
            say(QStringLiteral("Error: ") + client.errorString());
    });
    QObject::connect(&client, &SecureSocket::disconnected, [&] {
        say(status == 0 ? QStringLiteral("Closed cleanly (close_notify sent). Demo succeeded.")
                        : QStringLiteral("Demo failed."));
        app.exit(status);
    });
    QTimer::singleShot(10000, &app, [&] {
        say(QStringLiteral("Timed out"));
        app.exit(1);
    });
    client.connectToHostEncrypted(QStringLiteral("localhost"), port);
    return app.exec();
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() == 3 && args[1] == QLatin1String("--pki")) {
        makePki(args[2]);
        return 0;
    }
    if (args.size() == 4 && args[1] == QLatin1String("--connect"))
        return runClient(app, static_cast<quint16>(args[2].toUInt()), args[3]);
    if (args.size() != 1) {
        std::fprintf(stderr, "usage: securesocket-demo [--pki DIR | --connect PORT CAFILE]\n");
        return 64;
    }

    QTemporaryDir dir;
    if (!dir.isValid()) {
        say(QStringLiteral("cannot create a temporary directory"));
        return 1;
    }
    const Pki pki = makePki(dir.path());

    // The server: one-way TLS on a free loopback port.
    SecureConfiguration serverConfig;
    serverConfig.setLocalCertificateChainFile(pki.certFile);
    serverConfig.setPrivateKeyFile(pki.keyFile);
    serverConfig.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    if (const QString problem = serverConfig.validate(true); !problem.isEmpty()) {
        say(QStringLiteral("Server configuration error: ") + problem);
        return 1;
    }
    EchoServer server(serverConfig);
    if (!server.listen(QHostAddress::LocalHost, 0)) {
        say(QStringLiteral("Cannot listen: ") + server.errorString());
        return 1;
    }
    say(QStringLiteral("TLS echo server listening on 127.0.0.1:%1").arg(server.serverPort()));
    return runClient(app, server.serverPort(), pki.caFile);
}
