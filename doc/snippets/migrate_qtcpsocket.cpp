// doc/migrating.md, "From QTcpSocket": the same IMAP client with a QTcpSocket (before), with
// SecureSocket (after), and upgraded with STARTTLS. Built by the suite
// (snippet_migrate_qtcpsocket); run without arguments it only builds the objects, with HOST it runs
// the IMAPS client.
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QDebug>
#include <QTcpSocket>
#include <QTimer>

//! [before]
// Before: plain text on port 143.
void talkPlain(QTcpSocket *socket, const QString &host)
{
    QObject::connect(socket, &QTcpSocket::connected, socket,
                     [socket] { socket->write("a1 CAPABILITY\r\n"); });
    QObject::connect(socket, &QTcpSocket::readyRead, socket, [socket] {
        while (socket->canReadLine())
            qInfo() << "received" << socket->readLine().trimmed();
    });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, socket,
                     [socket] { qWarning() << socket->errorString(); });
    socket->connectToHost(host, 143);
}
//! [before]

//! [after]
// After: TLS from the first byte on port 993. Only three lines changed.
void talkEncrypted(SecureSocket *socket, const QString &host)
{
    QObject::connect(socket, &SecureSocket::encrypted, socket,
                     [socket] { socket->write("a1 CAPABILITY\r\n"); });
    QObject::connect(socket, &QTcpSocket::readyRead, socket, [socket] {
        while (socket->canReadLine())
            qInfo() << "received" << socket->readLine().trimmed();
    });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, socket,
                     [socket] { qWarning() << socket->errorString(); });
    socket->connectToHostEncrypted(host, 993);
}
//! [after]

//! [starttls]
// STARTTLS: plain text first, then the same socket turns to TLS. The certificate is checked
// against the host name given to connectToHost().
void talkStartTls(SecureSocket *socket, const QString &host)
{
    QObject::connect(socket, &QTcpSocket::readyRead, socket, [socket] {
        while (socket->canReadLine()) {
            const QByteArray line = socket->readLine();
            if (socket->mode() != SecureSocket::UnencryptedMode) {
                qInfo() << "received over TLS" << line.trimmed();
            } else if (line.startsWith("* OK")) { // the greeting
                socket->write("a1 STARTTLS\r\n");
            } else if (line.startsWith("a1 OK")) {
                socket->startClientEncryption(); // plaintext not read yet is discarded
                return;
            }
        }
    });
    QObject::connect(socket, &SecureSocket::encrypted, socket,
                     [socket] { socket->write("a2 CAPABILITY\r\n"); });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, socket,
                     [socket] { qWarning() << socket->errorString(); });
    socket->connectToHost(host, 143);
}
//! [starttls]

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QTcpSocket plain;
    SecureSocket secure;
    if (argc < 2)
        return 0;
    talkEncrypted(&secure, QString::fromLocal8Bit(argv[1]));
    QTimer::singleShot(10000, &app, &QCoreApplication::quit);
    return app.exec();
}
