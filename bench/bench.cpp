#include "bench.h"

#include "testpki.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QHostAddress>
#include <QSslCertificate>
#include <QSslCipher>
#include <QSslError>
#include <QSslKey>
#include <QSslSocket>
#include <QTimer>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>
#include <utility>

#include <openssl/evp.h>

#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

namespace bench {

const char *libName(Lib lib)
{
    switch (lib) {
    case Lib::Ours:
        return "ours";
    case Lib::Qt:
        return "qt";
    case Lib::Plain:
        return "plain";
    }
    return "?";
}

std::optional<Lib> libFromName(const QString &name)
{
    for (Lib lib : {Lib::Ours, Lib::Qt, Lib::Plain}) {
        if (name == QLatin1String(libName(lib)))
            return lib;
    }
    return std::nullopt;
}

const char *keyName(KeyType key)
{
    return key == KeyType::Ecdsa ? "ecdsa" : "rsa";
}

// --- PKI -------------------------------------------------------------------------------------

QString Pki::certFile(KeyType key) const
{
    return QDir(dir).filePath(QLatin1String(keyName(key)) + QLatin1String(".pem"));
}

QString Pki::keyFile(KeyType key) const
{
    return QDir(dir).filePath(QLatin1String(keyName(key)) + QLatin1String(".key"));
}

Pki pkiIn(const QString &dir)
{
    Pki pki;
    pki.dir = dir;
    pki.caFile = QDir(dir).filePath(QStringLiteral("ca.pem"));
    return pki;
}

Pki makePki(const QString &dir)
{
    const Pki pki = pkiIn(dir);
    testpki::CertSpec caSpec;
    caSpec.commonName = "SecureSocket Bench CA";
    caSpec.isCa = true;
    const testpki::Issued ca = testpki::makeCertificate(caSpec);
    testpki::writeFile(pki.caFile.toStdString(), ca.certPem);
    for (KeyType key : {KeyType::Ecdsa, KeyType::Rsa}) {
        testpki::CertSpec leafSpec;
        leafSpec.commonName = kPeerName;
        leafSpec.dnsNames = {kPeerName};
        leafSpec.ipAddresses = {"127.0.0.1"};
        leafSpec.keyType =
            key == KeyType::Ecdsa ? testpki::KeyType::EcdsaP256 : testpki::KeyType::Rsa2048;
        const testpki::Issued leaf = testpki::makeCertificate(leafSpec, &ca);
        testpki::writeFile(pki.certFile(key).toStdString(), leaf.certPem);
        testpki::writeFile(pki.keyFile(key).toStdString(), leaf.keyPem);
    }
    return pki;
}

// --- optional library API --------------------------------------------------------------------
// The bench compiles against the library as it is: where a member is missing it says so in the
// report instead of failing to build. Once SecureConfiguration::setSessionResumption() and
// SecureSocket::isSessionResumed() exist, they are used without any change here.

namespace {
template <typename C>
auto setResumptionIfAny(C &config, bool enabled, int)
    -> decltype(config.setSessionResumption(enabled), bool())
{
    config.setSessionResumption(enabled);
    return true;
}
template <typename C> bool setResumptionIfAny(C &, bool, long)
{
    return false;
}

template <typename S>
auto resumedIfAny(const S *socket, int)
    -> decltype(socket->isSessionResumed(), std::optional<bool>())
{
    return socket->isSessionResumed();
}
template <typename S> std::optional<bool> resumedIfAny(const S *, long)
{
    return std::nullopt;
}
} // namespace

bool setSessionResumption(SecureConfiguration &config, bool enabled)
{
    return setResumptionIfAny(config, enabled, 0);
}

std::optional<bool> clientSaysResumed(const QTcpSocket *socket)
{
    if (const auto *ours = qobject_cast<const SecureSocket *>(socket))
        return resumedIfAny(ours, 0);
    return std::nullopt;
}

// --- settings ----------------------------------------------------------------------------------

namespace {
QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// The settings every configuration of ours shares: TLS 1.3 only, one suite.
void restrictProtocol(SecureConfiguration &config)
{
    config.setMinimumProtocol(SecureConfiguration::Tls13);
    config.setCipherSuites(kCipherSuite);
}

void restrictProtocol(QSslConfiguration &config)
{
    config.setProtocol(QSsl::TlsV1_3OrLater);
    config.setCiphers({QSslCipher(QString::fromLatin1(kCipherSuite))});
}
} // namespace

ClientMaker::ClientMaker(const Pki &pki, const ClientSpec &spec) : m_pki(pki), m_spec(spec)
{
    if (spec.lib == Lib::Ours) {
        restrictProtocol(m_ours);
        m_ours.setUseSystemCaCertificates(spec.systemCas);
        if (spec.style == Style::Shared) {
            if (spec.caAsPem)
                m_ours.setCaCertificatesPem(readAll(pki.caFile));
            else
                m_ours.setCaCertificatesFile(pki.caFile);
            m_ours.setPeerVerifyName(QString::fromLatin1(kPeerName));
        }
        m_resumptionNote = setSessionResumption(m_ours, spec.resumption)
                               ? QStringLiteral("SecureConfiguration::setSessionResumption(%1)")
                                     .arg(spec.resumption ? "true" : "false")
                               : QStringLiteral("no SecureConfiguration::setSessionResumption() "
                                                "in the library: its default applies");
    } else if (spec.lib == Lib::Qt) {
        m_qt = QSslConfiguration::defaultConfiguration();
        const QList<QSslCertificate> ca = QSslCertificate::fromPath(pki.caFile);
        if (spec.systemCas)
            m_qt.addCaCertificates(ca); // keeps the system store (loaded on demand)
        else if (spec.style == Style::Shared)
            m_qt.setCaCertificates(ca); // only this CA
        else
            m_qt.setCaCertificates({}); // each socket reads the CA file (create())
        restrictProtocol(m_qt);
        m_qt.setPeerVerifyMode(QSslSocket::VerifyPeer);
        m_qt.setSslOption(QSsl::SslOptionDisableSessionPersistence, !spec.resumption);
        m_resumptionNote = spec.resumption
                               ? QStringLiteral("session persistence on; the last ticket is "
                                                "given to the next socket")
                               : QStringLiteral("session persistence off (Qt's default)");
    }
}

QTcpSocket *ClientMaker::create(QObject *parent) const
{
    QTcpSocket *socket = nullptr;
    switch (m_spec.lib) {
    case Lib::Ours: {
        auto *ours = new SecureSocket(parent);
        ours->setConfiguration(m_ours);
        if (m_spec.style == Style::Setters) {
            // Per socket, as an application that never builds a configuration object would.
            ours->setCaCertificatesFile(m_pki.caFile);
            ours->setPeerVerifyName(QString::fromLatin1(kPeerName));
        }
        socket = ours;
        break;
    }
    case Lib::Qt: {
        auto *qt = new QSslSocket(parent);
        if (m_spec.style == Style::Setters) {
            // Per socket, as code written for QSslSocket without a shared configuration: Qt 6
            // has no per-socket CA setter, so the socket's configuration gets the CA file.
            QSslConfiguration config = m_qt;
            config.setCaCertificates(QSslCertificate::fromPath(m_pki.caFile));
            qt->setSslConfiguration(config);
            qt->setPeerVerifyName(QString::fromLatin1(kPeerName));
        } else {
            qt->setSslConfiguration(m_qt);
        }
        socket = qt;
        break;
    }
    case Lib::Plain:
        socket = new QTcpSocket(parent);
        break;
    }
    if (m_spec.noDelay) {
        QObject::connect(socket, &QAbstractSocket::connected, socket,
                         [socket] { socket->setSocketOption(QAbstractSocket::LowDelayOption, 1); });
    }
    return socket;
}

void ClientMaker::connectTo(QTcpSocket *socket, quint16 port) const
{
    const QString address = QStringLiteral("127.0.0.1");
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        ours->connectToHostEncrypted(address, port);
    else if (auto *qt = qobject_cast<QSslSocket *>(socket); qt && m_spec.style == Style::Setters)
        qt->connectToHostEncrypted(address, port); // the name came from setPeerVerifyName()
    else if (qt)
        qt->connectToHostEncrypted(address, port, QString::fromLatin1(kPeerName));
    else
        socket->connectToHost(QHostAddress(QHostAddress::LocalHost), port);
}

void ClientMaker::learnSession(QTcpSocket *socket)
{
    auto *qt = qobject_cast<QSslSocket *>(socket);
    if (!qt || !m_spec.resumption)
        return;
    const QByteArray ticket = qt->sslConfiguration().sessionTicket();
    if (!ticket.isEmpty())
        m_qt.setSessionTicket(ticket);
}

SecureConfiguration oursServerConfig(const Pki &pki, KeyType key, bool withFiles)
{
    SecureConfiguration config;
    restrictProtocol(config);
    config.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    // No client certificates are checked: the server needs no CA store at all.
    config.setUseSystemCaCertificates(false);
    if (withFiles) {
        config.setLocalCertificateChainFile(pki.certFile(key));
        config.setPrivateKeyFile(pki.keyFile(key));
    }
    return config;
}

QSslConfiguration qtServerConfig(const Pki &pki, KeyType key, bool withFiles)
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    restrictProtocol(config);
    config.setPeerVerifyMode(QSslSocket::VerifyNone);
    if (withFiles) {
        config.setLocalCertificateChain(QSslCertificate::fromPath(pki.certFile(key)));
        config.setPrivateKey(
            QSslKey(readAll(pki.keyFile(key)), key == KeyType::Ecdsa ? QSsl::Ec : QSsl::Rsa));
    }
    return config;
}

void setServerFiles(QTcpSocket *socket, const Pki &pki, KeyType key)
{
    if (auto *ours = qobject_cast<SecureSocket *>(socket)) {
        ours->setLocalCertificate(pki.certFile(key));
        ours->setPrivateKey(pki.keyFile(key));
    } else if (auto *qt = qobject_cast<QSslSocket *>(socket)) {
        qt->setLocalCertificate(pki.certFile(key));
        qt->setPrivateKey(pki.keyFile(key), key == KeyType::Ecdsa ? QSsl::Ec : QSsl::Rsa);
    }
}

// --- socket helpers --------------------------------------------------------------------------

void onReady(QTcpSocket *socket, QObject *context, const std::function<void()> &f)
{
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        QObject::connect(ours, &SecureSocket::encrypted, context, f);
    else if (auto *qt = qobject_cast<QSslSocket *>(socket))
        QObject::connect(qt, &QSslSocket::encrypted, context, f);
    else
        QObject::connect(socket, &QTcpSocket::connected, context, f);
}

void onFailure(QTcpSocket *socket, QObject *context, const std::function<void(QString)> &f)
{
    QObject::connect(socket, &QAbstractSocket::errorOccurred, context,
                     [socket, f](QAbstractSocket::SocketError error) {
                         if (error != QAbstractSocket::RemoteHostClosedError)
                             f(socket->errorString());
                     });
    if (auto *ours = qobject_cast<SecureSocket *>(socket)) {
        QObject::connect(ours, &SecureSocket::certCheckFailed, context,
                         [f](int, const QString &reason) { f(reason); });
    } else if (auto *qt = qobject_cast<QSslSocket *>(socket)) {
        QObject::connect(qt, &QSslSocket::sslErrors, context, [f](const QList<QSslError> &errors) {
            f(errors.isEmpty() ? QStringLiteral("TLS error") : errors.first().errorString());
        });
    }
}

qint64 pendingWrite(const QTcpSocket *socket)
{
    if (const auto *qt = qobject_cast<const QSslSocket *>(socket))
        return qt->bytesToWrite() + qt->encryptedBytesToWrite();
    if (const auto *ours = qobject_cast<const SecureSocket *>(socket))
        return ours->bytesToWrite() + ours->encryptedBytesToWrite();
    return socket->bytesToWrite();
}

void onWritten(QTcpSocket *socket, QObject *context, const std::function<void()> &f)
{
    QObject::connect(socket, &QIODevice::bytesWritten, context, f);
    if (auto *qt = qobject_cast<QSslSocket *>(socket))
        QObject::connect(qt, &QSslSocket::encryptedBytesWritten, context, f);
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        QObject::connect(ours, &SecureSocket::encryptedBytesWritten, context, f);
}

void closeSocket(QTcpSocket *socket)
{
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        ours->disconnectFromHost();
    else
        socket->disconnectFromHost();
}

void abortSocket(QTcpSocket *socket)
{
    if (auto *ours = qobject_cast<SecureSocket *>(socket))
        ours->abort();
    else if (auto *qt = qobject_cast<QSslSocket *>(socket))
        qt->abort();
    else
        socket->abort();
}

SessionInfo sessionInfo(const QTcpSocket *socket)
{
    SessionInfo info;
    if (const auto *ours = qobject_cast<const SecureSocket *>(socket)) {
        info.protocol = ours->sessionProtocol();
        info.cipher = ours->sessionCipher();
        info.group = ours->sessionKeyExchangeGroup();
    } else if (const auto *qt = qobject_cast<const QSslSocket *>(socket)) {
        info.protocol = qt->sessionProtocol() == QSsl::TlsV1_3   ? QStringLiteral("TLSv1.3")
                        : qt->sessionProtocol() == QSsl::TlsV1_2 ? QStringLiteral("TLSv1.2")
                                                                 : QStringLiteral("other");
        info.cipher = qt->sessionCipher().name();
        // Qt names no group; for X25519 its key is opaque, an EVP_PKEY that OpenSSL can name.
        const QSslKey key = qt->sslConfiguration().ephemeralServerKey();
        if (key.algorithm() == QSsl::Opaque && key.handle()) {
            const char *name = EVP_PKEY_get0_type_name(static_cast<EVP_PKEY *>(key.handle()));
            info.group = QString::fromLatin1(name ? name : "unknown") +
                         QStringLiteral(" (QSslConfiguration::ephemeralServerKey)");
        } else if (!key.isNull()) {
            info.group = QStringLiteral("%1-bit key of algorithm %2 "
                                        "(QSslConfiguration::ephemeralServerKey)")
                             .arg(key.length())
                             .arg(static_cast<int>(key.algorithm()));
        }
    }
    return info;
}

// --- event loop ----------------------------------------------------------------------------

namespace {
QEventLoop *g_loop = nullptr;
}

bool spin(const std::function<bool()> &done, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    QEventLoop loop;
    QEventLoop *outer = std::exchange(g_loop, &loop);
    // A slow tick bounds how late a timeout is noticed; wake() ends a wait at once.
    QTimer tick;
    tick.setInterval(20);
    QObject::connect(&tick, &QTimer::timeout, &loop, &QEventLoop::quit);
    tick.start();
    bool ok = done();
    while (!ok && !deadline.hasExpired()) {
        loop.exec();
        ok = done();
    }
    g_loop = outer;
    return ok;
}

void wake()
{
    if (g_loop)
        g_loop->quit();
}

// --- statistics ----------------------------------------------------------------------------

double median(QList<double> values)
{
    values.removeIf([](double v) { return std::isnan(v); });
    if (values.isEmpty())
        return kNaN;
    std::sort(values.begin(), values.end());
    const qsizetype n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double percentile(QList<double> values, double fraction)
{
    if (values.isEmpty())
        return kNaN;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<qsizetype>(std::ceil(fraction * double(values.size())));
    return values[std::clamp<qsizetype>(rank - 1, 0, values.size() - 1)];
}

// --- process ---------------------------------------------------------------------------------

qint64 rssKiB()
{
    QFile statm(QStringLiteral("/proc/self/statm"));
    if (!statm.open(QIODevice::ReadOnly))
        return -1;
    const QList<QByteArray> fields = statm.readAll().split(' ');
    if (fields.size() < 2)
        return -1;
    return fields[1].toLongLong() * (sysconf(_SC_PAGESIZE) / 1024);
}

bool pinToCpu(int cpu, QString *error)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) == 0)
        return true;
    if (error)
        *error =
            QStringLiteral("sched_setaffinity(cpu %1): %2").arg(cpu).arg(qt_error_string(errno));
    return false;
}

void raiseFileLimit()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

double nowMs()
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

double threadCpuMs()
{
    timespec time{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time);
    return double(time.tv_sec) * 1e3 + double(time.tv_nsec) / 1e6;
}

QString argValue(const QStringList &arguments, const QString &name, const QString &fallback)
{
    const qsizetype at = arguments.indexOf(name);
    return at >= 0 && at + 1 < arguments.size() ? arguments[at + 1] : fallback;
}

} // namespace bench
