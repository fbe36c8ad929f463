// A program outside the SecureSocket tree, as a user writes one: it connects to a TLS server,
// verifies it against the CA file given on the command line, sends a line and expects it back
// reversed (`openssl s_server -rev`). Exits 0 on success; otherwise prints why and exits 1.
//   consumer PORT CA_FILE
// The part between the "//! [version]" lines is quoted in doc/packaging.md.
#include <SecureSocket/SecureSocket>
#include <SecureSocket/SecureSocketVersion>

#include <QCoreApplication>

#include <algorithm>
#include <cstdio>

static_assert(SECURESOCKET_VERSION == SECURESOCKET_VERSION_CHECK(SECURESOCKET_VERSION_MAJOR,
                                                                 SECURESOCKET_VERSION_MINOR,
                                                                 SECURESOCKET_VERSION_PATCH),
              "SECURESOCKET_VERSION is 0xMMmmpp");
//! [version]
static_assert(SECURESOCKET_VERSION >= SECURESOCKET_VERSION_CHECK(0, 1, 0),
              "the version header says 0.1.0 or later");
//! [version]

static int fail(const QString &sentence)
{
    std::fprintf(stderr, "consumer: %s\n", qPrintable(sentence));
    return 1;
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    bool portOk = false;
    const quint16 port = args.size() == 3 ? args.at(1).toUShort(&portOk) : 0;
    if (!portOk || port == 0)
        return fail(QStringLiteral("usage: consumer PORT CA_FILE"));

    SecureSocket socket;
    socket.setCaCertificatesFile(args.at(2));
    socket.connectToHostEncrypted(QStringLiteral("localhost"), port);
    if (!socket.waitForEncrypted(20000))
        return fail(QStringLiteral("no verified TLS connection to localhost:%1: %2")
                        .arg(port)
                        .arg(socket.errorString()));
    if (!socket.isEncrypted() || !socket.peerVerifyErrors().isEmpty())
        return fail(QStringLiteral("the connection is not encrypted with a verified peer"));

    const QByteArray line = "hello from SecureSocket " SECURESOCKET_VERSION_STR;
    socket.write(line + '\n');
    for (int wait = 0; wait < 20 && !socket.canReadLine(); ++wait) {
        if (!socket.waitForReadyRead(1000) && socket.state() != QAbstractSocket::ConnectedState)
            break;
    }
    if (!socket.canReadLine())
        return fail(QStringLiteral("the server sent no line back: %1").arg(socket.errorString()));
    QByteArray expected = line;
    std::reverse(expected.begin(), expected.end());
    const QByteArray answer = socket.readLine().trimmed();
    if (answer != expected)
        return fail(QStringLiteral("the server sent '%1', not '%2'")
                        .arg(QString::fromUtf8(answer), QString::fromUtf8(expected)));

    socket.disconnectFromHost();
    std::printf("consumer: SecureSocket %s: verified TLS connection to localhost:%u, line echoed\n",
                SECURESOCKET_VERSION_STR, unsigned(port));
    return 0;
}
