// doc/threads.md: the blocking API in a worker thread that has no event loop. Each of COUNT
// threads connects, sends a line, waits for its echo and disconnects, all with waitFor...().
// Usage: blocking_client HOST PORT CA-FILE [COUNT]
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QThread>

#include <cstdio>
#include <memory>
#include <vector>

//! [worker]
class EchoClient : public QThread
{
public:
    EchoClient(const QString &host, quint16 port, const QString &caFile, int number)
        : m_host(host), m_port(port), m_caFile(caFile), m_number(number)
    {}
    QString result; // read it after wait()

protected:
    void run() override // no exec(): nothing here needs an event loop
    {
        SecureSocket socket; // made in this thread, so it lives in this thread
        socket.setCaCertificatesFile(m_caFile);
        socket.connectToHostEncrypted(m_host, m_port);
        if (!socket.waitForEncrypted(5000)) { // connects, then runs the handshake
            result = QStringLiteral("failed: ") + socket.errorString();
            return;
        }
        const QByteArray line = "hello from thread " + QByteArray::number(m_number) + '\n';
        socket.write(line); // sent by the waitFor...() calls below
        QByteArray echo;
        while (!echo.endsWith('\n') && socket.waitForReadyRead(5000))
            echo += socket.readAll();
        if (echo != line) {
            result = QStringLiteral("no echo: ") + socket.errorString();
            return;
        }
        socket.disconnectFromHost(); // close_notify
        if (socket.state() != QAbstractSocket::UnconnectedState)
            socket.waitForDisconnected(5000);
        result = QStringLiteral("echoed: ") + QString::fromUtf8(echo.trimmed());
    }

private:
    QString m_host;
    quint16 m_port;
    QString m_caFile;
    int m_number;
};
//! [worker]

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() != 4 && args.size() != 5) {
        std::fprintf(stderr, "usage: blocking_client HOST PORT CA-FILE [COUNT]\n");
        return 64;
    }
    const int count = args.size() == 5 ? qBound(1, args[4].toInt(), 64) : 4;
    //! [start]
    std::vector<std::unique_ptr<EchoClient>> clients;
    for (int i = 0; i < count; ++i) {
        clients.push_back(std::make_unique<EchoClient>(args[1], args[2].toUShort(), args[3], i));
        clients.back()->start();
    }
    int failed = 0;
    for (const auto &client : clients) {
        client->wait(); // each run() is bounded by its 5 s timeouts
        std::printf("%s\n", qPrintable(client->result));
        failed += client->result.startsWith(QLatin1String("echoed: ")) ? 0 : 1;
    }
    return failed == 0 ? 0 : 1;
    //! [start]
}
