#include <SecureSocket/secureconfiguration.h>

#include "secureconfiguration_p.h"

#include <QFile>
#include <QSharedData>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using securesocket::engine::Context;
using securesocket::engine::Role;

// How long a remembered context is used before the files it was built from are stat()ed
// again. Sockets sharing one configuration then cost one stat() per file per second, not two
// per connection; a certificate renewed on disk is picked up within this time.
constexpr auto kFileRecheckInterval = std::chrono::seconds(1);

// The engine contexts (client and server) of one SecureConfigurationPrivate. A copy of the
// private data starts empty: it is made just before a setting changes.
class EngineContextCache
{
public:
    EngineContextCache() = default;
    EngineContextCache(const EngineContextCache &) {}
    EngineContextCache &operator=(const EngineContextCache &)
    {
        clear();
        return *this;
    }

    void clear()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (Entry &entry : m_entries)
            entry = Entry();
    }

    std::shared_ptr<const Context> find(Role role)
    {
        const auto now = Clock::now();
        std::lock_guard<std::mutex> lock(m_mutex);
        Entry &entry = m_entries[role == Role::Server ? 1 : 0];
        if (!entry.context)
            return nullptr;
        if (now - entry.checked < kFileRecheckInterval)
            return entry.context;
        for (const auto &[path, stamp] : entry.files) {
            if (securesocket::engine::fileStamp(path) != stamp) {
                entry = Entry();
                return nullptr;
            }
        }
        entry.checked = now;
        return entry.context;
    }

    void store(Role role, std::shared_ptr<const Context> context,
               std::vector<std::pair<std::string, std::string>> files, Clock::time_point checked)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_entries[role == Role::Server ? 1 : 0] = {std::move(context), std::move(files), checked};
    }

private:
    struct Entry
    {
        std::shared_ptr<const Context> context;
        std::vector<std::pair<std::string, std::string>> files; // path, fileStamp(path)
        Clock::time_point checked;
    };
    std::mutex m_mutex;
    Entry m_entries[2]; // client, server
};

} // namespace

class SecureConfigurationPrivate : public QSharedData
{
public:
    SecureConfigurationPrivate() = default;
    SecureConfigurationPrivate(const SecureConfigurationPrivate &) = default;
    ~SecureConfigurationPrivate()
    {
        wipe(passphrase);
        wipe(keyPem);
    }

    // Every setter goes through this: detaches (a copy starts with an empty cache) and
    // forgets the contexts of the old settings.
    static SecureConfigurationPrivate &edit(QSharedDataPointer<SecureConfigurationPrivate> &d)
    {
        d->contexts.clear();
        return *d;
    }

    static std::shared_ptr<const Context> engineContext(const SecureConfiguration &configuration,
                                                        Role role, std::string *error);

    static void wipe(QByteArray &secret)
    {
        if (!secret.isEmpty()) {
            OPENSSL_cleanse(secret.data(), static_cast<size_t>(secret.size()));
            secret.clear();
        }
    }

    bool operator==(const SecureConfigurationPrivate &o) const
    {
        return caFile == o.caFile && caDirectory == o.caDirectory && caPem == o.caPem &&
               useSystemCas == o.useSystemCas && crlFile == o.crlFile && certFile == o.certFile &&
               certPem == o.certPem && keyFile == o.keyFile && keyPem == o.keyPem &&
               passphrase == o.passphrase && passphraseFile == o.passphraseFile &&
               verifyMode == o.verifyMode && verifyName == o.verifyName && minimum == o.minimum &&
               maximum == o.maximum && cipherList == o.cipherList &&
               cipherSuites == o.cipherSuites && alpn == o.alpn && resumption == o.resumption &&
               ticketKeyLifetime == o.ticketKeyLifetime && handshakeTimeout == o.handshakeTimeout;
    }

    QString caFile;
    QString caDirectory;
    QByteArray caPem;
    bool useSystemCas = true;
    QString crlFile;
    QString certFile;
    QByteArray certPem;
    QString keyFile;
    QByteArray keyPem;
    QByteArray passphrase;
    QString passphraseFile;
    SecureConfiguration::PeerVerifyMode verifyMode = SecureConfiguration::VerifyPeer;
    QString verifyName;
    SecureConfiguration::TlsVersion minimum = SecureConfiguration::Tls12;
    SecureConfiguration::TlsVersion maximum = SecureConfiguration::Tls13;
    QByteArray cipherList;
    QByteArray cipherSuites;
    QList<QByteArray> alpn;
    bool resumption = true;
    int ticketKeyLifetime = 3600;
    int handshakeTimeout = 30000; // the socket's, not the context's: never in the cache key

    mutable EngineContextCache contexts; // not a setting: never compared, never copied
};

std::shared_ptr<const Context>
SecureConfigurationPrivate::engineContext(const SecureConfiguration &configuration, Role role,
                                          std::string *error)
{
    const SecureConfigurationPrivate &d = *configuration.d; // const: never detaches
    if (auto context = d.contexts.find(role))
        return context;

    const securesocket::engine::Config config = securesocket::toEngineConfig(configuration);
    // Stamped before the context is looked up or built: a file changed in between makes the
    // stamps old, so it is looked at again, never the other way round.
    const auto checked = Clock::now();
    std::vector<std::pair<std::string, std::string>> files;
    for (const std::string *path : {&config.caFile, &config.crlFile, &config.certChainFile,
                                    &config.keyFile, &config.keyPassphraseFile}) {
        if (!path->empty())
            files.emplace_back(*path, securesocket::engine::fileStamp(*path));
    }
    auto context = Context::get(config, role, error);
    if (context)
        d.contexts.store(role, context, std::move(files), checked);
    return context;
}

SecureConfiguration::SecureConfiguration() : d(new SecureConfigurationPrivate) {}
SecureConfiguration::SecureConfiguration(const SecureConfiguration &other) = default;
SecureConfiguration &SecureConfiguration::operator=(const SecureConfiguration &other) = default;
SecureConfiguration::~SecureConfiguration() = default;

bool SecureConfiguration::operator==(const SecureConfiguration &other) const
{
    return d == other.d || *d == *other.d;
}

#define SECURESOCKET_PROPERTY(Type, getter, setter, member)                                        \
    Type SecureConfiguration::getter() const                                                       \
    {                                                                                              \
        return d->member;                                                                          \
    }                                                                                              \
    void SecureConfiguration::setter(const Type &value)                                            \
    {                                                                                              \
        SecureConfigurationPrivate::edit(d).member = value;                                        \
    }

SECURESOCKET_PROPERTY(QString, caCertificatesFile, setCaCertificatesFile, caFile)
SECURESOCKET_PROPERTY(QString, caCertificatesDirectory, setCaCertificatesDirectory, caDirectory)
SECURESOCKET_PROPERTY(QByteArray, caCertificatesPem, setCaCertificatesPem, caPem)
SECURESOCKET_PROPERTY(QString, crlFile, setCrlFile, crlFile)
SECURESOCKET_PROPERTY(QString, localCertificateChainFile, setLocalCertificateChainFile, certFile)
SECURESOCKET_PROPERTY(QByteArray, localCertificateChainPem, setLocalCertificateChainPem, certPem)
SECURESOCKET_PROPERTY(QString, privateKeyFile, setPrivateKeyFile, keyFile)
SECURESOCKET_PROPERTY(QString, privateKeyPassphraseFile, setPrivateKeyPassphraseFile,
                      passphraseFile)
SECURESOCKET_PROPERTY(QString, peerVerifyName, setPeerVerifyName, verifyName)
SECURESOCKET_PROPERTY(QByteArray, cipherList, setCipherList, cipherList)
SECURESOCKET_PROPERTY(QByteArray, cipherSuites, setCipherSuites, cipherSuites)
SECURESOCKET_PROPERTY(QList<QByteArray>, alpnProtocols, setAlpnProtocols, alpn)
#undef SECURESOCKET_PROPERTY

bool SecureConfiguration::useSystemCaCertificates() const
{
    return d->useSystemCas;
}
void SecureConfiguration::setUseSystemCaCertificates(bool use)
{
    SecureConfigurationPrivate::edit(d).useSystemCas = use;
}
QByteArray SecureConfiguration::privateKeyPem() const
{
    return d->keyPem;
}
void SecureConfiguration::setPrivateKeyPem(const QByteArray &pem)
{
    SecureConfigurationPrivate &data = SecureConfigurationPrivate::edit(d);
    SecureConfigurationPrivate::wipe(data.keyPem);
    data.keyPem = pem;
}
QByteArray SecureConfiguration::privateKeyPassphrase() const
{
    return d->passphrase;
}
void SecureConfiguration::setPrivateKeyPassphrase(const QByteArray &passphrase)
{
    SecureConfigurationPrivate &data = SecureConfigurationPrivate::edit(d);
    SecureConfigurationPrivate::wipe(data.passphrase);
    data.passphrase = passphrase;
}
SecureConfiguration::PeerVerifyMode SecureConfiguration::peerVerifyMode() const
{
    return d->verifyMode;
}
void SecureConfiguration::setPeerVerifyMode(PeerVerifyMode mode)
{
    SecureConfigurationPrivate::edit(d).verifyMode = mode;
}
SecureConfiguration::TlsVersion SecureConfiguration::minimumProtocol() const
{
    return d->minimum;
}
void SecureConfiguration::setMinimumProtocol(TlsVersion version)
{
    SecureConfigurationPrivate::edit(d).minimum = version;
}
SecureConfiguration::TlsVersion SecureConfiguration::maximumProtocol() const
{
    return d->maximum;
}
void SecureConfiguration::setMaximumProtocol(TlsVersion version)
{
    SecureConfigurationPrivate::edit(d).maximum = version;
}

bool SecureConfiguration::sessionResumption() const
{
    return d->resumption;
}
void SecureConfiguration::setSessionResumption(bool enabled)
{
    SecureConfigurationPrivate::edit(d).resumption = enabled;
}
int SecureConfiguration::ticketKeyLifetime() const
{
    return d->ticketKeyLifetime;
}
void SecureConfiguration::setTicketKeyLifetime(int seconds)
{
    SecureConfigurationPrivate::edit(d).ticketKeyLifetime = seconds;
}

int SecureConfiguration::handshakeTimeout() const
{
    return d->handshakeTimeout;
}
void SecureConfiguration::setHandshakeTimeout(int msecs)
{
    // Not a setting of the context: the remembered contexts stay valid.
    if (d->handshakeTimeout != msecs)
        d->handshakeTimeout = std::max(0, msecs);
}

QString SecureConfiguration::validate(bool serverRole) const
{
    std::string error;
    if (securesocket::engineContext(*this, serverRole ? Role::Server : Role::Client, &error))
        return {};
    return QString::fromStdString(error);
}

QString systemCaCertificatesSource()
{
    return QString::fromStdString(securesocket::engine::systemCaSource());
}

namespace securesocket {

namespace {
std::string fileName(const QString &path)
{
    return path.isEmpty() ? std::string() : QFile::encodeName(path).toStdString();
}
int tlsVersion(SecureConfiguration::TlsVersion version)
{
    return version == SecureConfiguration::Tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}
} // namespace

std::shared_ptr<const engine::Context> engineContext(const SecureConfiguration &configuration,
                                                     engine::Role role, std::string *error)
{
    return SecureConfigurationPrivate::engineContext(configuration, role, error);
}

engine::Config toEngineConfig(const SecureConfiguration &configuration)
{
    engine::Config config;
    config.caFile = fileName(configuration.caCertificatesFile());
    config.caDirectory = fileName(configuration.caCertificatesDirectory());
    config.caPem = configuration.caCertificatesPem().toStdString();
    config.useSystemCas = configuration.useSystemCaCertificates();
    config.crlFile = fileName(configuration.crlFile());
    config.certChainFile = fileName(configuration.localCertificateChainFile());
    config.certChainPem = configuration.localCertificateChainPem().toStdString();
    config.keyFile = fileName(configuration.privateKeyFile());
    config.keyPem = configuration.privateKeyPem().toStdString();
    config.keyPassphrase = engine::SecretString(configuration.privateKeyPassphrase().toStdString());
    config.keyPassphraseFile = fileName(configuration.privateKeyPassphraseFile());
    switch (configuration.peerVerifyMode()) {
    case SecureConfiguration::VerifyPeer:
        config.verifyMode = engine::VerifyMode::Verify;
        break;
    case SecureConfiguration::QueryPeer:
        config.verifyMode = engine::VerifyMode::Query;
        break;
    case SecureConfiguration::VerifyNone:
        config.verifyMode = engine::VerifyMode::None;
        break;
    }
    config.minVersion = tlsVersion(configuration.minimumProtocol());
    config.maxVersion = tlsVersion(configuration.maximumProtocol());
    config.cipherList = configuration.cipherList().toStdString();
    config.cipherSuites = configuration.cipherSuites().toStdString();
    for (const QByteArray &protocol : configuration.alpnProtocols())
        config.alpn.push_back(protocol.toStdString());
    config.sessionResumption = configuration.sessionResumption();
    config.ticketKeyLifetime = configuration.ticketKeyLifetime();
    return config;
}

} // namespace securesocket
