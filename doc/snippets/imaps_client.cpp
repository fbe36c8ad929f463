// doc/getting-started.md: an IMAPS client. It connects with TLS, checks the server's
// certificate, prints the greeting, asks for the server's capabilities and logs out.
// Usage: imaps_client HOST PORT [CA-FILE]
//! [includes]
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QTimer>

#include <cstdio>
//! [includes]

int main(int argc, char *argv[])
{
    //! [arguments]
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() < 3 || args.size() > 4) {
        std::fprintf(stderr, "usage: imaps_client HOST PORT [CA-FILE]\n");
        return 64;
    }
    const QString host = args[1];
    const quint16 port = args[2].toUShort();
    //! [arguments]

    //! [socket]
    SecureSocket socket;
    if (args.size() == 4)
        socket.setCaCertificatesFile(args[3]); // trusted besides the system's CAs
    //! [socket]

    //! [finish]
    int status = -1; // set once, by the first of: success, failure, timeout
    auto finish = [&](int code, const QString &why) {
        if (status != -1)
            return;
        status = code;
        if (!why.isEmpty())
            std::fprintf(stderr, "imaps_client: %s\n", qPrintable(why));
        QCoreApplication::exit(code);
    };
    //! [finish]

    //! [signals]
    QObject::connect(&socket, &SecureSocket::certCheckFailed, [](int, const QString &reason) {
        std::fprintf(stderr, "Certificate check failed: %s\n", qPrintable(reason));
    });
    QObject::connect(&socket, &SecureSocket::encrypted, [&socket] {
        std::printf("Encrypted (%s), server verified: %s\n", qPrintable(socket.sessionProtocol()),
                    qPrintable(socket.peerCertificate().subject()));
    });
    QObject::connect(
        &socket, &SecureSocket::errorOccurred, [&](QAbstractSocket::SocketError error) {
            if (error != QAbstractSocket::RemoteHostClosedError) // that one ends in disconnected()
                finish(1, QStringLiteral("connection failed: ") + socket.errorString());
        });
    //! [signals]

    //! [session]
    QByteArray expected = "* OK"; // the start of the next line we wait for
    bool loggedOut = false;
    auto readLines = [&] {
        while (socket.canReadLine()) {
            const QByteArray line = socket.readLine();
            std::printf("S: %s", line.constData());
            if (!line.startsWith(expected))
                continue; // untagged data, such as "* CAPABILITY ..."
            if (expected == "* OK") {
                socket.write("a001 CAPABILITY\r\n");
                expected = "a001 OK";
            } else if (expected == "a001 OK") {
                socket.write("a002 LOGOUT\r\n");
                expected = "a002 OK";
            } else {
                loggedOut = true;
                socket.disconnectFromHost(); // close_notify, then the end of the TCP stream
            }
        }
    };
    QObject::connect(&socket, &SecureSocket::readyRead, readLines);
    QObject::connect(&socket, &SecureSocket::disconnected, [&] {
        readLines(); // lines that came with the server's own close
        finish(loggedOut ? 0 : 1, loggedOut ? QString() : QStringLiteral("the server hung up"));
    });
    //! [session]

    //! [connect]
    QTimer::singleShot(10000, [&] { finish(2, QStringLiteral("no answer within 10 s")); });
    socket.connectToHostEncrypted(host, port);
    return app.exec();
    //! [connect]
}
