#include "socketfixture.h"

#include <QDir>
#include <QEventLoop>
#include <QHostAddress>
#include <QMetaEnum>
#include <QTimer>

#include <stdexcept>

#include <unistd.h>

TestPki::TestPki()
{
    if (!m_dir.isValid())
        return;
    ca = testpki::makeCertificate(testpki::caSpec("SecureSocket Test CA"));
    caFile = write(QStringLiteral("ca.pem"), ca.certPem);
    intermediate = testpki::makeCertificate(testpki::caSpec("SecureSocket Test Intermediate"), &ca);
    clientCa = testpki::makeCertificate(testpki::caSpec("SecureSocket Client CA"));
    clientCaFile = write(QStringLiteral("client-ca.pem"), clientCa.certPem);

    serverCert = issue(QStringLiteral("server"), testpki::localhostSpec(), &ca);
    serverKey = keyFileOf(serverCert);
    testpki::CertSpec chainSpec = testpki::localhostSpec();
    chainSpec.commonName = "chain.localhost";
    chainServerCert = m_dir.issue(QStringLiteral("chain"), chainSpec, &intermediate, nullptr,
                                  intermediate.certPem);
    chainServerKey = keyFileOf(chainServerCert);

    clientCert = issue(QStringLiteral("client"), testpki::clientSpec("client.test"), &clientCa);
    clientKey = keyFileOf(clientCert);
}

SecureConfiguration clientConfiguration(const TestPki &pki)
{
    SecureConfiguration config;
    config.setUseSystemCaCertificates(false);
    config.setCaCertificatesFile(pki.caFile);
    return config;
}

SecureConfiguration serverConfiguration(const QString &certFile)
{
    SecureConfiguration config;
    config.setLocalCertificateChainFile(certFile);
    config.setPrivateKeyFile(TestPki::keyFileOf(certFile));
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    return config;
}

// --- TestServer ----------------------------------------------------------------------------

TestServer::TestServer(Kind kind, const SecureConfiguration &config)
    : m_kind(kind), m_config(config)
{
    onData = [](QTcpSocket *peer, const QByteArray &data) { peer->write(data); };
}

TestServer::~TestServer()
{
    close();
    // Peers are children: delete them now, while the logs they write to still exist.
    for (const QPointer<QTcpSocket> &peer : std::as_const(peers))
        delete peer.data();
}

bool TestServer::start()
{
    setListenBacklogSize(256);
    return listen(QHostAddress::LocalHost, 0);
}

int TestServer::livePeers() const
{
    int live = 0;
    for (const QPointer<QTcpSocket> &peer : peers)
        live += peer ? 1 : 0;
    return live;
}

QByteArray TestServer::receivedByAll() const
{
    QByteArray all;
    for (const auto &log : logs)
        all += log->received;
    return all;
}

void TestServer::incomingConnection(qintptr descriptor)
{
    auto log = std::make_shared<PeerLog>();
    QTcpSocket *peer = nullptr;
    SecureSocket *secure = nullptr;
    if (m_kind == Plain) {
        peer = new QTcpSocket(this);
    } else {
        secure = new SecureSocket(this);
        secure->setConfiguration(m_config);
        peer = secure;
    }
    logs.append(log);
    peers.append(peer);

    connect(peer, &QTcpSocket::readyRead, peer, [this, peer, log] {
        if (!readIncoming)
            return;
        const QByteArray data = peer->readAll();
        log->received += data;
        if (onData && !data.isEmpty())
            onData(peer, data);
    });
    connect(peer, &QTcpSocket::errorOccurred, peer,
            [peer, secure, log](QAbstractSocket::SocketError error) {
                log->errors.append(error);
                log->errorString = peer->errorString();
                if (secure)
                    log->tlsError = secure->tlsError();
            });
    connect(peer, &QTcpSocket::disconnected, peer, [this, peer, log] {
        log->disconnected = true;
        if (deletePeersOnDisconnect)
            peer->deleteLater();
    });
    if (secure) {
        connect(secure, &SecureSocket::alertReceived, secure,
                [log](int, int description, const QString &) {
                    log->alertsReceived.append(description);
                });
        connect(secure, &SecureSocket::encrypted, secure, [this, secure, log] {
            log->peerSubject = secure->peerCertificate().subject();
            if (m_kind == SecurePlain) {
                if (onEncrypted)
                    onEncrypted(secure);
                return;
            }
            log->ready = true;
            if (onReady)
                onReady(secure);
        });
    }
    if (!peer->setSocketDescriptor(descriptor)) {
        log->errors.append(peer->error());
        delete peer;
        return;
    }
    if (m_kind == Tls) {
        secure->startServerEncryption();
        return;
    }
    log->ready = true;
    if (onReady)
        onReady(peer);
}

// --- SignalRecorder ------------------------------------------------------------------------

namespace {
QString stateName(QAbstractSocket::SocketState state)
{
    return QString::fromLatin1(
        QMetaEnum::fromType<QAbstractSocket::SocketState>().valueToKey(state));
}
QString errorName(QAbstractSocket::SocketError error)
{
    return QString::fromLatin1(
        QMetaEnum::fromType<QAbstractSocket::SocketError>().valueToKey(error));
}
} // namespace

SignalRecorder::SignalRecorder(QAbstractSocket *socket)
{
    using S = QAbstractSocket;
    QObject::connect(socket, &S::stateChanged, &m_context, [this, socket](S::SocketState state) {
        m_events.append(QStringLiteral("state:") + stateName(state));
        if (socket->state() != state)
            m_events.append(QStringLiteral("state() is ") + stateName(socket->state()));
    });
    QObject::connect(socket, &S::connected, &m_context,
                     [this] { m_events.append(QStringLiteral("connected")); });
    QObject::connect(socket, &S::readyRead, &m_context,
                     [this] { m_events.append(QStringLiteral("readyRead")); });
    QObject::connect(socket, &S::readChannelFinished, &m_context,
                     [this] { m_events.append(QStringLiteral("readChannelFinished")); });
    QObject::connect(socket, &S::disconnected, &m_context,
                     [this] { m_events.append(QStringLiteral("disconnected")); });
    QObject::connect(socket, &S::errorOccurred, &m_context, [this](S::SocketError error) {
        m_events.append(QStringLiteral("error:") + errorName(error));
    });
    QObject::connect(socket, &S::aboutToClose, &m_context,
                     [this] { m_events.append(QStringLiteral("aboutToClose")); });
}

SignalRecorder::~SignalRecorder() = default;

QStringList SignalRecorder::collapsed() const
{
    QStringList result;
    for (const QString &event : m_events) {
        if (event == QLatin1String("readyRead") && !result.isEmpty() && result.last() == event)
            continue;
        result.append(event);
    }
    return result;
}

// --- helpers -------------------------------------------------------------------------------

bool waitUntil(const std::function<bool()> &done, int msecs)
{
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    poll.setInterval(1);
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done())
            loop.quit();
    });
    QTimer::singleShot(msecs, &loop, &QEventLoop::quit);
    poll.start();
    loop.exec();
    return done();
}

QByteArray pattern(qint64 size, int seed)
{
    QByteArray data(size, Qt::Uninitialized);
    quint32 x = 2463534242u + static_cast<quint32>(seed);
    for (qint64 i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = static_cast<char>(x & 0xff);
    }
    return data;
}

int openFileDescriptors(const QString &kind)
{
    const QDir fds(QStringLiteral("/proc/self/fd"));
    int count = 0;
    for (const QString &name :
         fds.entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot)) {
        char target[256] = {};
        const QByteArray path = fds.filePath(name).toLocal8Bit();
        const ssize_t size = ::readlink(path.constData(), target, sizeof target - 1);
        if (size >= 0 && (kind.isEmpty() || QLatin1String(target, size).startsWith(kind)))
            ++count;
    }
    return count;
}
