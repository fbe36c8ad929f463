// README.md, "A short example": a SecureSocket where a QTcpSocket was. Built by the suite
// (snippet_readme) and run: it only makes the object (start() would connect to
// imap.example.com).
#include <QObject>

class MailClient : public QObject
{
public:
    void start();
};

// clang-format off
//! [example]
#include <SecureSocket/SecureSocket>

void MailClient::start()
{
    auto *socket = new SecureSocket(this);            // was: new QTcpSocket(this)
    connect(socket, &SecureSocket::encrypted, this, [socket] {
        qDebug() << "TLS" << socket->sessionProtocol() << socket->sessionCipher();
        socket->write("a001 CAPABILITY\r\n");
    });
    connect(socket, &SecureSocket::certCheckFailed, this, [](int, const QString &reason) {
        qWarning() << "Certificate check failed:" << reason;   // the connection is then closed
    });
    connect(socket, &QTcpSocket::readyRead, this, [socket] { qDebug() << socket->readAll(); });
    socket->connectToHostEncrypted("imap.example.com", 993);  // was: connectToHost(...)
}
//! [example]
// clang-format on

int main()
{
    MailClient client;
    return 0;
}
