// The QTcpSocket behaviour suite, written once and run three ways (one data row each):
//   QTcpSocket          a plain QTcpSocket against a plain loopback server (the reference);
//   SecureSocket-plain  SecureSocket left unencrypted (connectToHost), same plain server;
//   SecureSocket-TLS    SecureSocket with connectToHostEncrypted() against a loopback TLS server
//                       (QTcpServer + server-side SecureSocket) whose certificate comes from a
//                       CA made for this run, the only one the client trusts.
// Every assertion holds for all three: SecureSocket is a drop-in QTcpSocket. The client is
// always used through a QTcpSocket pointer, except for flush() (see flushClient()).
#include "socketfixture.h"

#include <QBuffer>
#include <QDataStream>
#include <QHostAddress>
#include <QSignalSpy>
#include <QTest>
#include <QTextStream>
#include <QTimer>

#include <algorithm>

namespace {

enum class Way { Tcp, SecurePlain, SecureTls };

constexpr int kTimeout = 10000;
const QString kHost = QStringLiteral("127.0.0.1");

// One way of running a test: the server and the client it implies.
class Harness
{
public:
    Harness(Way way, const TestPki &pki)
        : way(way), server(way == Way::SecureTls ? TestServer::Tls : TestServer::Plain,
                           serverConfiguration(pki.serverCert))
    {
        if (way == Way::Tcp) {
            client = std::make_unique<QTcpSocket>();
            QObject::connect(client.get(), &QTcpSocket::connected, [this] { ++readyCount; });
        } else {
            auto *socket = new SecureSocket;
            socket->setConfiguration(clientConfiguration(pki));
            secure = socket;
            client.reset(socket);
            if (way == Way::SecureTls)
                QObject::connect(socket, &SecureSocket::encrypted, [this] { ++readyCount; });
            else
                QObject::connect(socket, &QTcpSocket::connected, [this] { ++readyCount; });
        }
        QObject::connect(client.get(), &QTcpSocket::disconnected, [this] { ++disconnectCount; });
    }

    bool start() { return server.start(); }

    void connectClient()
    {
        if (way == Way::SecureTls)
            secure->connectToHostEncrypted(kHost, server.port());
        else
            client->connectToHost(kHost, server.port());
    }

    // Waits for the next connected() (plain) or encrypted() (TLS).
    bool waitReady()
    {
        const int before = readyDone;
        const bool ok = waitUntil([&] { return readyCount > before; }, kTimeout);
        readyDone = readyCount;
        return ok;
    }

    bool connectAndWait()
    {
        connectClient();
        return waitReady();
    }

    bool waitDisconnected(int count)
    {
        return waitUntil(
            [&] {
                return disconnectCount >= count &&
                       client->state() == QAbstractSocket::UnconnectedState;
            },
            kTimeout);
    }

    // Reads from the client until it has size bytes (or the time is up).
    QByteArray readExactly(qint64 size)
    {
        QByteArray data;
        waitUntil(
            [&] {
                data += client->read(size - data.size());
                return data.size() >= size;
            },
            kTimeout);
        return data;
    }

    // QAbstractSocket::flush() is not virtual: through a base pointer SecureSocket's data is
    // sent by the event loop instead (see doc/architecture.md); call it through its own type.
    bool flushClient() { return secure ? secure->flush() : client->flush(); }

    Way way;
    TestServer server;
    std::unique_ptr<QTcpSocket> client; // declared after server: destroyed first
    SecureSocket *secure = nullptr;     // client, when it is a SecureSocket
    int readyCount = 0;                 // connected() or, for TLS, encrypted()
    int readyDone = 0;
    int disconnectCount = 0;
};

// Compares event lists, printing both in full when they differ.
bool sameEvents(const QStringList &actual, const QStringList &expected)
{
    if (actual == expected)
        return true;
    qWarning("actual:   %s", qPrintable(actual.join(QLatin1String(", "))));
    qWarning("expected: %s", qPrintable(expected.join(QLatin1String(", "))));
    return false;
}

const QStringList kConnectEvents = {
    QStringLiteral("state:HostLookupState"), QStringLiteral("state:ConnectingState"),
    QStringLiteral("state:ConnectedState"), QStringLiteral("connected")};

} // namespace

Q_DECLARE_METATYPE(Way)

class tst_Behaviour : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();

    void readLine_data() { addWays(); }
    void readLine();
    void partialReads_data() { addWays(); }
    void partialReads();
    void peek_data() { addWays(); }
    void peek();
    void bytesAvailableAndAtEnd_data() { addWays(); }
    void bytesAvailableAndAtEnd();
    void largeEcho_data() { addWays(); }
    void largeEcho();
    void writesBeforeConnected_data() { addWays(); }
    void writesBeforeConnected();
    void remoteClose_data() { addWays(); }
    void remoteClose();
    void signalOrderOnLocalClose_data() { addWays(); }
    void signalOrderOnLocalClose();
    void disconnectBeforeConnected_data() { addWays(); }
    void disconnectBeforeConnected();
    void signalOrderOnRefusal_data() { addWays(); }
    void signalOrderOnRefusal();
    void addresses_data() { addWays(); }
    void addresses();
    void socketOptions_data() { addWays(); }
    void socketOptions();
    void dataStream_data() { addWays(); }
    void dataStream();
    void textStream_data() { addWays(); }
    void textStream();
    void transactions_data() { addWays(); }
    void transactions();
    void dataStreamTransactions_data() { addWays(); }
    void dataStreamTransactions();
    void readBufferSize_data() { addWays(); }
    void readBufferSize();
    void bytesWrittenCounts_data() { addWays(); }
    void bytesWrittenCounts();
    void flush_data() { addWays(); }
    void flush();
    void abort_data() { addWays(); }
    void abort();
    void close_data() { addWays(); }
    void close();
    void reuseAfterDisconnect_data() { addWays(); }
    void reuseAfterDisconnect();
    void reuseAfterRemoteClose_data() { addWays(); }
    void reuseAfterRemoteClose();
    void waitForReadyReadWithEventLoopIdle_data() { addWays(); }
    void waitForReadyReadWithEventLoopIdle();

private:
    static void addWays();
    TestPki m_pki;
};

void tst_Behaviour::addWays()
{
    QTest::addColumn<Way>("way");
    QTest::newRow("QTcpSocket") << Way::Tcp;
    QTest::newRow("SecureSocket-plain") << Way::SecurePlain;
    QTest::newRow("SecureSocket-TLS") << Way::SecureTls;
}

void tst_Behaviour::initTestCase()
{
    QVERIFY(m_pki.isValid());
}

void tst_Behaviour::readLine()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onReady = [](QTcpSocket *peer) { peer->write("first line\nsecond line\npartial"); };
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 30; }, kTimeout));
    QVERIFY(client->canReadLine());
    QCOMPARE(client->readLine(), QByteArray("first line\n"));
    QVERIFY(client->canReadLine());
    char line[64];
    QCOMPARE(client->readLine(line, sizeof line), qint64(12));
    QCOMPARE(QByteArray(line), QByteArray("second line\n"));
    QVERIFY(!client->canReadLine());
    QCOMPARE(client->bytesAvailable(), qint64(7));

    h.server.lastPeer()->write(" end\nnext");
    QVERIFY(waitUntil([&] { return client->canReadLine(); }, kTimeout));
    QCOMPARE(client->readLine(), QByteArray("partial end\n"));
    QVERIFY(!client->canReadLine());
    QCOMPARE(client->readLine(3), QByteArray("ne"));
    QCOMPARE(client->readAll(), QByteArray("xt"));
    QVERIFY(client->atEnd());
}

void tst_Behaviour::partialReads()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    const QByteArray payload = pattern(100000);
    h.server.onReady = [&](QTcpSocket *peer) { peer->write(payload); };
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    QVERIFY(waitUntil([&] { return client->bytesAvailable() == payload.size(); }, kTimeout));
    QByteArray got;
    char c = 0;
    QVERIFY(client->getChar(&c));
    got += c;
    char buffer[7];
    QCOMPARE(client->read(buffer, sizeof buffer), qint64(sizeof buffer));
    got.append(buffer, sizeof buffer);
    for (qint64 size : {1, 2, 3, 1000, 16383, 16384, 16385, 40000}) {
        const QByteArray chunk = client->read(size);
        QCOMPARE(chunk.size(), size);
        got += chunk;
        QCOMPARE(client->bytesAvailable(), payload.size() - got.size());
    }
    QVERIFY(client->skip(10) == 10);
    got += payload.mid(got.size(), 10);
    got += client->read(payload.size()); // more than there is
    QCOMPARE(got.size(), payload.size());
    QVERIFY(got == payload);
    QCOMPARE(client->read(10), QByteArray());
    QCOMPARE(client->bytesAvailable(), qint64(0));
}

void tst_Behaviour::peek()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onReady = [](QTcpSocket *peer) { peer->write("abcdefghij"); };
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 10; }, kTimeout));
    QCOMPARE(client->peek(4), QByteArray("abcd"));
    QCOMPARE(client->bytesAvailable(), qint64(10));
    QCOMPARE(client->read(2), QByteArray("ab"));
    char buffer[100];
    QCOMPARE(client->peek(buffer, sizeof buffer), qint64(8));
    QCOMPARE(QByteArray(buffer, 8), QByteArray("cdefghij"));
    QCOMPARE(client->bytesAvailable(), qint64(8));
    QVERIFY(client->canReadLine() == false);
    QCOMPARE(client->readAll(), QByteArray("cdefghij"));
    QCOMPARE(client->peek(4), QByteArray());
}

void tst_Behaviour::bytesAvailableAndAtEnd()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.readIncoming = false;
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    QCOMPARE(client->bytesAvailable(), qint64(0));
    QVERIFY(client->atEnd());
    QVERIFY(h.connectAndWait());
    QCOMPARE(client->bytesAvailable(), qint64(0));
    QVERIFY(client->atEnd());

    QSignalSpy readyRead(client, &QIODevice::readyRead);
    h.server.lastPeer()->write("0123456789");
    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 10; }, kTimeout));
    QVERIFY(readyRead.count() >= 1);
    QVERIFY(!client->atEnd());
    QCOMPARE(client->read(4), QByteArray("0123"));
    QCOMPARE(client->bytesAvailable(), qint64(6));
    QVERIFY(!client->atEnd());
    QCOMPARE(client->readAll(), QByteArray("456789"));
    QCOMPARE(client->bytesAvailable(), qint64(0));
    QVERIFY(client->atEnd());
}

void tst_Behaviour::largeEcho()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    const QByteArray payload = pattern(8 * 1024 * 1024);
    QByteArray echoed;
    qint64 written = 0;
    QObject::connect(client, &QIODevice::readyRead, client, [&] { echoed += client->readAll(); });
    QObject::connect(client, &QIODevice::bytesWritten, client, [&](qint64 n) { written += n; });
    QCOMPARE(client->write(payload), payload.size());
    QVERIFY(waitUntil([&] { return echoed.size() >= payload.size(); }, 60000));
    QCOMPARE(echoed.size(), payload.size());
    QVERIFY(echoed == payload);
    QCOMPARE(written, payload.size());
    QCOMPARE(client->bytesToWrite(), qint64(0));
}

void tst_Behaviour::writesBeforeConnected()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    QObject::connect(client, &QTcpSocket::connected, client,
                     [client] { QCOMPARE(client->write("three\n"), qint64(6)); });
    h.connectClient();
    QVERIFY(client->state() == QAbstractSocket::HostLookupState ||
            client->state() == QAbstractSocket::ConnectingState);
    QCOMPARE(client->write("one\n"), qint64(4));
    QCOMPARE(client->write("two\n"), qint64(4));
    QCOMPARE(client->bytesToWrite(), qint64(8));
    QVERIFY(h.waitReady());
    QCOMPARE(h.readExactly(14), QByteArray("one\ntwo\nthree\n"));
    QCOMPARE(h.server.logs.first()->received, QByteArray("one\ntwo\nthree\n"));
}

// The server sends data and closes: everything is readable, then disconnected() comes, the
// error is RemoteHostClosedError, and the signals come in QTcpSocket's order.
void tst_Behaviour::remoteClose()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    const QByteArray payload = pattern(200000) + "END\n";
    h.server.onReady = [&](QTcpSocket *peer) {
        peer->write(payload);
        peer->disconnectFromHost();
    };
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    SignalRecorder recorder(client);
    qint64 availableAtError = -1;
    qint64 availableAtDisconnect = -1;
    QAbstractSocket::SocketState stateAtError = QAbstractSocket::UnconnectedState;
    QObject::connect(client, &QTcpSocket::errorOccurred, client, [&] {
        availableAtError = client->bytesAvailable();
        stateAtError = client->state();
    });
    QObject::connect(client, &QTcpSocket::disconnected, client,
                     [&] { availableAtDisconnect = client->bytesAvailable(); });
    h.connectClient();
    QVERIFY(h.waitDisconnected(1));

    QCOMPARE(availableAtError, payload.size());
    QCOMPARE(stateAtError, QAbstractSocket::ConnectedState);
    QCOMPARE(availableAtDisconnect, payload.size());
    QCOMPARE(client->error(), QAbstractSocket::RemoteHostClosedError);
    QVERIFY(!client->errorString().isEmpty());
    QVERIFY(client->isOpen());
    QVERIFY(client->canReadLine());
    QVERIFY(client->readAll() == payload);
    QVERIFY(client->atEnd());
    QCOMPARE(client->read(1), QByteArray());
    QVERIFY(sameEvents(recorder.collapsed(),
                       kConnectEvents + QStringList{QStringLiteral("readyRead"),
                                                    QStringLiteral("error:RemoteHostClosedError"),
                                                    QStringLiteral("state:ClosingState"),
                                                    QStringLiteral("state:UnconnectedState"),
                                                    QStringLiteral("readChannelFinished"),
                                                    QStringLiteral("disconnected")}));
    testsupport::deliverPostedEvents(); // a later signal would be queued: nothing more comes
    QCOMPARE(recorder.collapsed().size(), kConnectEvents.size() + 6);
}

void tst_Behaviour::signalOrderOnLocalClose()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    SignalRecorder recorder(client);
    QVERIFY(h.connectAndWait());
    client->write("ping\n");
    QCOMPARE(h.readExactly(5), QByteArray("ping\n"));
    client->disconnectFromHost();
    QVERIFY(h.waitDisconnected(1));
    QVERIFY(waitUntil([&] { return h.server.logs.first()->disconnected; }, kTimeout));
    QCOMPARE(client->error(), QAbstractSocket::UnknownSocketError);
    QVERIFY(sameEvents(recorder.collapsed(),
                       kConnectEvents + QStringList{QStringLiteral("readyRead"),
                                                    QStringLiteral("state:ClosingState"),
                                                    QStringLiteral("state:UnconnectedState"),
                                                    QStringLiteral("readChannelFinished"),
                                                    QStringLiteral("disconnected")}));
    QVERIFY(client->isOpen()); // disconnectFromHost() does not close the device
}

// disconnectFromHost() while still connecting: connects, sends what was written, then closes.
void tst_Behaviour::disconnectBeforeConnected()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onData = nullptr;
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    SignalRecorder recorder(client);
    h.connectClient();
    QCOMPARE(client->write("early\n"), qint64(6));
    client->disconnectFromHost();
    QVERIFY(client->state() != QAbstractSocket::UnconnectedState);
    QVERIFY(h.waitDisconnected(1));
    QVERIFY(waitUntil(
        [&] { return !h.server.logs.isEmpty() && h.server.logs.first()->disconnected; }, kTimeout));
    QCOMPARE(h.server.logs.first()->received, QByteArray("early\n"));
    QCOMPARE(client->error(), QAbstractSocket::UnknownSocketError);
    QVERIFY(sameEvents(recorder.collapsed(),
                       kConnectEvents + QStringList{QStringLiteral("state:ClosingState"),
                                                    QStringLiteral("state:UnconnectedState"),
                                                    QStringLiteral("readChannelFinished"),
                                                    QStringLiteral("disconnected")}));
}

void tst_Behaviour::signalOrderOnRefusal()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    h.server.close();
    const testsupport::RefusingPort refusing; // nothing listens there
    const quint16 port = refusing.port();
    QVERIFY(port != 0);
    QTcpSocket *client = h.client.get();
    SignalRecorder recorder(client);
    if (h.secure && way == Way::SecureTls)
        h.secure->connectToHostEncrypted(kHost, port);
    else
        client->connectToHost(kHost, port);
    QVERIFY(waitUntil([&] { return client->error() != QAbstractSocket::UnknownSocketError; },
                      kTimeout));
    QCOMPARE(client->error(), QAbstractSocket::ConnectionRefusedError);
    QCOMPARE(client->state(), QAbstractSocket::UnconnectedState);
    testsupport::deliverPostedEvents(); // any signal still queued comes now
    QVERIFY(sameEvents(recorder.collapsed(), {QStringLiteral("state:HostLookupState"),
                                              QStringLiteral("state:ConnectingState"),
                                              QStringLiteral("state:UnconnectedState"),
                                              QStringLiteral("error:ConnectionRefusedError")}));
    QCOMPARE(h.disconnectCount, 0);
}

void tst_Behaviour::addresses()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    QCOMPARE(client->peerPort(), quint16(0));
    QCOMPARE(client->socketDescriptor(), qintptr(-1));
    h.connectClient();
    QCOMPARE(client->peerName(), kHost);
    QVERIFY(h.waitReady());

    const QHostAddress loopback(QHostAddress::LocalHost);
    QCOMPARE(client->peerName(), kHost);
    QCOMPARE(client->peerAddress(), loopback);
    QCOMPARE(client->peerPort(), h.server.port());
    QCOMPARE(client->localAddress(), loopback);
    QVERIFY(client->localPort() != 0);
    QVERIFY(client->socketDescriptor() != -1);
    QVERIFY(client->isValid());
    QTcpSocket *peer = h.server.lastPeer();
    QVERIFY(peer);
    QCOMPARE(peer->peerPort(), client->localPort());
    QCOMPARE(peer->localPort(), h.server.port());
    QCOMPARE(peer->peerAddress(), loopback);

    client->disconnectFromHost();
    QVERIFY(h.waitDisconnected(1));
    QCOMPARE(client->peerAddress(), QHostAddress());
    QCOMPARE(client->peerPort(), quint16(0));
    QCOMPARE(client->localAddress(), QHostAddress());
    QCOMPARE(client->localPort(), quint16(0));
    QCOMPARE(client->socketDescriptor(), qintptr(-1));
    QCOMPARE(client->peerName(), kHost);
}

void tst_Behaviour::socketOptions()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    QVERIFY(!client->socketOption(QAbstractSocket::LowDelayOption).isValid());
    QVERIFY(h.connectAndWait());
    for (int value : {1, 0, 1}) {
        client->setSocketOption(QAbstractSocket::LowDelayOption, value);
        QCOMPARE(client->socketOption(QAbstractSocket::LowDelayOption).toInt(), value);
        client->setSocketOption(QAbstractSocket::KeepAliveOption, value);
        QCOMPARE(client->socketOption(QAbstractSocket::KeepAliveOption).toInt(), value);
    }
    client->write("still works\n");
    QCOMPARE(h.readExactly(12), QByteArray("still works\n"));
}

void tst_Behaviour::dataStream()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    const QString text = QStringLiteral("h\u00e9llo w\u00f6rld");
    const QByteArray blob = pattern(100000);
    QByteArray expected;
    {
        QDataStream model(&expected, QIODevice::WriteOnly);
        model << quint32(0xC0FFEE) << text << blob << 3.25;
    }
    QDataStream out(client);
    out << quint32(0xC0FFEE) << text << blob << 3.25;
    QCOMPARE(out.status(), QDataStream::Ok);
    QVERIFY(waitUntil([&] { return client->bytesAvailable() >= expected.size(); }, kTimeout));
    QCOMPARE(client->bytesAvailable(), expected.size());

    QDataStream in(client);
    quint32 number = 0;
    QString textIn;
    QByteArray blobIn;
    double real = 0;
    in >> number >> textIn >> blobIn >> real;
    QCOMPARE(in.status(), QDataStream::Ok);
    QCOMPARE(number, quint32(0xC0FFEE));
    QCOMPARE(textIn, text);
    QVERIFY(blobIn == blob);
    QCOMPARE(real, 3.25);
    QCOMPARE(client->bytesAvailable(), qint64(0));
}

void tst_Behaviour::textStream()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    QTextStream out(client);
    out << "hello " << 42 << ' ' << 2.5 << '\n' << QStringLiteral("l\u00efne two") << '\n';
    out.flush();
    const qint64 size = QByteArray("hello 42 2.5\nl\xc3\xafne two\n").size();
    QVERIFY(waitUntil([&] { return client->bytesAvailable() >= size; }, kTimeout));
    QTextStream in(client);
    QCOMPARE(in.readLine(), QStringLiteral("hello 42 2.5"));
    QCOMPARE(in.readLine(), QStringLiteral("l\u00efne two"));
    QVERIFY(in.atEnd());
}

void tst_Behaviour::transactions()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onReady = [](QTcpSocket *peer) { peer->write("abcdefgh"); };
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();
    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 8; }, kTimeout));

    client->startTransaction();
    QVERIFY(client->isTransactionStarted());
    QCOMPARE(client->read(3), QByteArray("abc"));
    QCOMPARE(client->bytesAvailable(), qint64(5));
    client->rollbackTransaction();
    QCOMPARE(client->bytesAvailable(), qint64(8));
    QCOMPARE(client->read(3), QByteArray("abc"));

    client->startTransaction();
    QCOMPARE(client->read(2), QByteArray("de"));
    client->commitTransaction();
    QVERIFY(!client->isTransactionStarted());
    QCOMPARE(client->bytesAvailable(), qint64(3));

    // A transaction open while more data arrives keeps all of it.
    client->startTransaction();
    QCOMPARE(client->readAll(), QByteArray("fgh"));
    h.server.lastPeer()->write("ijk");
    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 3; }, kTimeout));
    client->rollbackTransaction();
    QCOMPARE(client->readAll(), QByteArray("fghijk"));
}

// The classic QDataStream pattern: a message arriving in two parts, read in readyRead() with
// startTransaction()/commitTransaction(); the attempt on the first part rolls back and loses
// nothing.
void tst_Behaviour::dataStreamTransactions()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    const QString text = QStringLiteral("header");
    const QByteArray blob = pattern(50000);
    QByteArray message;
    {
        QDataStream model(&message, QIODevice::WriteOnly);
        model << text << blob;
    }
    h.server.onReady = [&](QTcpSocket *peer) { peer->write(message.left(10)); };
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();

    QDataStream in(client);
    int rollbacks = 0;
    bool received = false;
    qint64 availableAfterRollback = -1;
    QString textIn;
    QByteArray blobIn;
    QObject::connect(client, &QIODevice::readyRead, client, [&] {
        in.startTransaction();
        in >> textIn >> blobIn;
        if (!in.commitTransaction()) {
            ++rollbacks;
            availableAfterRollback = client->bytesAvailable();
            return;
        }
        received = true;
    });
    QVERIFY(h.connectAndWait());
    QVERIFY(waitUntil([&] { return rollbacks >= 1; }, kTimeout));
    QCOMPARE(availableAfterRollback, qint64(10));
    h.server.lastPeer()->write(message.mid(10)); // the rest, once the first attempt failed
    QVERIFY(waitUntil([&] { return received; }, kTimeout));
    QCOMPARE(textIn, text);
    QVERIFY(blobIn == blob);
    QCOMPARE(in.status(), QDataStream::Ok);
    QCOMPARE(client->bytesAvailable(), qint64(0));
}

// With a read buffer limit, bytesAvailable() never passes it while the peer sends 4 MiB, and
// everything arrives, in order, once the application reads.
void tst_Behaviour::readBufferSize()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    constexpr qint64 limit = 4096;
    const QByteArray payload = pattern(4 * 1024 * 1024, 7);
    h.server.onReady = [&](QTcpSocket *peer) { peer->write(payload); };
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    client->setReadBufferSize(limit);
    QCOMPARE(client->readBufferSize(), limit);

    qint64 maxAvailable = 0;
    bool reading = false;
    QByteArray received;
    auto sample = [&] { maxAvailable = std::max(maxAvailable, client->bytesAvailable()); };
    QObject::connect(client, &QIODevice::readyRead, client, [&] {
        sample();
        if (reading)
            received += client->readAll();
    });
    QVERIFY(h.connectAndWait());

    // Not reading: the buffer fills up to the limit and stops there.
    QVERIFY(waitUntil(
        [&] {
            sample();
            return client->bytesAvailable() == limit;
        },
        kTimeout));
    // No event marks "the socket read no further": the server keeps sending, and a read past
    // the limit would show within this settle.
    QTest::qWait(100);
    sample();
    QVERIFY2(maxAvailable <= limit, QByteArray::number(maxAvailable).constData());

    // Reading: the rest flows, limit by limit.
    reading = true;
    received += client->readAll();
    QVERIFY(waitUntil(
        [&] {
            sample();
            return received.size() >= payload.size();
        },
        60000));
    QVERIFY2(maxAvailable <= limit, QByteArray::number(maxAvailable).constData());
    QCOMPARE(received.size(), payload.size());
    QVERIFY(received == payload);

    // Back to unlimited: a burst larger than the old limit is buffered whole.
    client->setReadBufferSize(0);
    reading = false;
    h.server.lastPeer()->write(payload.left(100000));
    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 100000; }, kTimeout));
    QVERIFY(client->readAll() == payload.left(100000));
}

// bytesToWrite() and bytesWritten() count the application's bytes, whatever goes on the wire.
void tst_Behaviour::bytesWrittenCounts()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    qint64 signalled = 0;
    bool nonPositive = false;
    QObject::connect(client, &QIODevice::bytesWritten, client, [&](qint64 n) {
        signalled += n;
        nonPositive = nonPositive || n <= 0;
    });
    const QByteArray a = pattern(300000, 1);
    const QByteArray b("x");
    const QByteArray c = pattern(70000, 2);
    QCOMPARE(client->write(a), a.size());
    QCOMPARE(client->write(b), b.size());
    QCOMPARE(client->write(c), c.size());
    const qint64 total = a.size() + b.size() + c.size();
    QCOMPARE(client->bytesToWrite(), total);
    QVERIFY(waitUntil([&] { return signalled >= total && client->bytesToWrite() == 0; }, kTimeout));
    QCOMPARE(signalled, total);
    QVERIFY(!nonPositive);
    QVERIFY(h.readExactly(total) == a + b + c);
    QCOMPARE(client->bytesToWrite(), qint64(0));
}

void tst_Behaviour::flush()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();

    QSignalSpy written(client, &QIODevice::bytesWritten);
    QCOMPARE(client->write("flush me\n"), qint64(9));
    QCOMPARE(client->bytesToWrite(), qint64(9));
    QVERIFY(h.flushClient());
    QCOMPARE(client->bytesToWrite(), qint64(0));
    QCOMPARE(written.count(), 1);
    QCOMPARE(written.first().first().toLongLong(), qint64(9));
    QVERIFY(!h.flushClient()); // nothing left
    QCOMPARE(h.readExactly(9), QByteArray("flush me\n"));
}

// abort() drops the connection at once, unsent data included (called through QTcpSocket *).
void tst_Behaviour::abort()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.readIncoming = true;
    h.server.onData = nullptr;
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();
    SignalRecorder recorder(client);

    // More than the kernel takes at once: QTcpSocket sends nothing before the event loop
    // runs, SecureSocket sends at once what the kernel takes; abort() drops the rest.
    const qint64 total = 16 * 1024 * 1024;
    client->write(pattern(total));
    client->abort();
    QCOMPARE(client->state(), QAbstractSocket::UnconnectedState);
    QVERIFY(sameEvents(recorder.events(),
                       {QStringLiteral("aboutToClose"), QStringLiteral("state:UnconnectedState"),
                        QStringLiteral("readChannelFinished"), QStringLiteral("disconnected")}));
    QCOMPARE(h.disconnectCount, 1);
    QVERIFY(!client->isOpen());
    QCOMPARE(client->bytesToWrite(), qint64(0));
    QCOMPARE(client->bytesAvailable(), qint64(0));
    QCOMPARE(client->localPort(), quint16(0));
    QCOMPARE(client->error(), QAbstractSocket::UnknownSocketError);
    QVERIFY(waitUntil([&] { return h.server.logs.first()->disconnected; }, kTimeout));
    QVERIFY2(h.server.logs.first()->received.size() < total,
             QByteArray::number(h.server.logs.first()->received.size()));
    testsupport::deliverPostedEvents(); // a later signal would be queued: nothing more comes
    QCOMPARE(recorder.events().size(), 4);
}

// close() sends what was written, then closes the device at once.
void tst_Behaviour::close()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onData = nullptr;
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();
    const QByteArray payload = pattern(500000, 3);
    client->write(payload);
    client->close();
    QVERIFY(!client->isOpen());
    QCOMPARE(client->bytesAvailable(), qint64(0));
    QVERIFY(h.waitDisconnected(1));
    QVERIFY(waitUntil([&] { return h.server.logs.first()->disconnected; }, kTimeout));
    QVERIFY(h.server.logs.first()->received == payload);
    QCOMPARE(client->bytesToWrite(), qint64(0));
}

void tst_Behaviour::reuseAfterDisconnect()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    for (int round = 1; round <= 3; ++round) {
        QVERIFY(h.connectAndWait());
        QCOMPARE(client->state(), QAbstractSocket::ConnectedState);
        QCOMPARE(client->bytesAvailable(), qint64(0));
        QCOMPARE(client->bytesToWrite(), qint64(0));
        if (h.secure && way == Way::SecureTls)
            QVERIFY(h.secure->isEncrypted());
        const QByteArray line = "round " + QByteArray::number(round) + '\n';
        client->write(line);
        QCOMPARE(h.readExactly(line.size()), line);
        client->disconnectFromHost();
        QVERIFY(h.waitDisconnected(round));
        if (h.secure)
            QVERIFY(!h.secure->isEncrypted());
    }
    QCOMPARE(h.server.logs.size(), 3);
}

// After the peer closed with data left unread, connecting again starts afresh.
void tst_Behaviour::reuseAfterRemoteClose()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onReady = [](QTcpSocket *peer) {
        peer->write("stale data\n");
        peer->disconnectFromHost();
    };
    QVERIFY(h.start());
    QTcpSocket *client = h.client.get();
    h.connectClient();
    QVERIFY(h.waitDisconnected(1));
    QCOMPARE(client->bytesAvailable(), qint64(11));
    QCOMPARE(client->error(), QAbstractSocket::RemoteHostClosedError);

    h.server.onReady = nullptr;
    QVERIFY(h.connectAndWait());
    QCOMPARE(client->bytesAvailable(), qint64(0));
    client->write("fresh\n");
    QCOMPARE(h.readExactly(6), QByteArray("fresh\n"));
    client->disconnectFromHost();
    QVERIFY(h.waitDisconnected(2));
}

// waitForReadyRead() with the event loop idle: times out (without closing the socket) when
// nothing comes, and returns when data already sent by the peer is waiting in the kernel.
void tst_Behaviour::waitForReadyReadWithEventLoopIdle()
{
    QFETCH(Way, way);
    Harness h(way, m_pki);
    h.server.onData = nullptr;
    QVERIFY(h.start());
    QVERIFY(h.connectAndWait());
    QTcpSocket *client = h.client.get();
    QVERIFY(!client->waitForReadyRead(100));
    QCOMPARE(client->error(), QAbstractSocket::SocketTimeoutError);
    QCOMPARE(client->state(), QAbstractSocket::ConnectedState);

    client->write("hello\n");
    QVERIFY(waitUntil([&] { return h.server.logs.first()->received == "hello\n"; }, kTimeout));
    QTcpSocket *peer = h.server.lastPeer();
    peer->write("world\n");
    auto *securePeer = qobject_cast<SecureSocket *>(peer);
    QVERIFY(securePeer ? securePeer->flush() : peer->flush());
    QVERIFY(client->waitForReadyRead(kTimeout));
    QVERIFY(waitUntil([&] { return client->bytesAvailable() == 6; }, kTimeout));
    QCOMPARE(client->readAll(), QByteArray("world\n"));
}

QTEST_MAIN(tst_Behaviour)
#include "tst_behaviour.moc"
