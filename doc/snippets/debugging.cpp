// doc/debugging.md: turning the library's trace on from code, and printing its types with
// qDebug(). Usage: snippet_debugging HOST PORT (connects with TLS, prints what happened, exits).
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QDebug>
#include <QLoggingCategory>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc != 3) {
        qWarning("usage: snippet_debugging HOST PORT");
        return 2;
    }

    //! [rules]
    // The same as QT_LOGGING_RULES="securesocket.*.debug=true" in the environment.
    QLoggingCategory::setFilterRules(QStringLiteral("securesocket.*.debug=true"));
    //! [rules]

    SecureSocket socket;
    //! [print]
    qDebug() << socket.configuration(); // paths and settings; never a key or passphrase

    QObject::connect(&socket, &SecureSocket::certificateErrors,
                     [](const QList<SecureCertificateError> &errors) {
                         qDebug() << "refused:" << errors; // code, subject, sentence of each
                     });
    QObject::connect(&socket, &SecureSocket::encrypted, [&socket] {
        qDebug() << "server certificate:" << socket.peerCertificate();
        socket.disconnectFromHost();
    });
    //! [print]
    QObject::connect(&socket, &SecureSocket::disconnected, &app, &QCoreApplication::quit);
    QObject::connect(&socket, &SecureSocket::errorOccurred, [&socket, &app] {
        qDebug() << socket.tlsError() << socket.errorString();
        app.exit(1);
    });
    socket.connectToHostEncrypted(QString::fromLocal8Bit(argv[1]),
                                  static_cast<quint16>(QByteArray(argv[2]).toUInt()));
    return app.exec();
}
