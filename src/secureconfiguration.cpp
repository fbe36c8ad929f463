// SecureConfiguration: the settings (implicitly shared), their conversion to the engine's Config,
// and the engine contexts each configuration remembers, its files re-checked at most once a second.
#include <SecureSocket/secureconfiguration.h>

#include "secureconfiguration_p.h"
#include "testhooks_p.h"

#include <QFile>
#include <QLoggingCategory>
#include <QSharedData>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <list>
#include <mutex>
#include <utility>
#include <vector>

Q_LOGGING_CATEGORY(lcConfiguration, "securesocket.configuration", QtInfoMsg)

namespace {

using Clock = std::chrono::steady_clock;
using securesocket::engine::Context;
using securesocket::engine::ContextCache;
using securesocket::engine::Role;

// The clock of the file re-check: the steady clock, unless a test set its own.
std::atomic<bool> g_clockSet{false};
std::mutex g_clockMutex;
securesocket::testing::SteadyClock g_clock;

Clock::time_point recheckNow()
{
    if (!g_clockSet.load(std::memory_order_acquire))
        return Clock::now();
    std::lock_guard<std::mutex> lock(g_clockMutex);
    return g_clock ? g_clock() : Clock::now();
}

// How long a remembered context is used before the files it was built from are stat()ed
// again. Sockets sharing one configuration then cost one stat() per file per second, not two
// per connection; a certificate renewed on disk is picked up within this time.
constexpr auto kFileRecheckInterval = std::chrono::seconds(1);

using FileStamps = std::vector<std::pair<std::string, std::string>>; // path, fileStamp(path)

// The engine contexts (client and server) of one SecureConfigurationPrivate. A copy of the
// private data starts empty: it is made just before a setting changes.
//
// When a file changes on disk and the new content does not load (half written, garbage, a key
// that no longer matches), the context built before stays in use: a server keeps serving while
// the files are being fixed. The failed stamps are remembered, so that the broken files are
// read again only when they change again, and the failure is logged once.
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

    // For a copy whose settings differ only in what no context depends on.
    void copyFrom(const EngineContextCache &other)
    {
        std::scoped_lock lock(m_mutex, other.m_mutex);
        for (int i = 0; i < 2; ++i)
            m_entries[i] = other.m_entries[i];
    }

    struct Found
    {
        std::shared_ptr<const Context> context; // the last one that loaded, if any
        bool current = false;                   // false: the files changed, build again
        bool rechecked = false;                 // the files were looked at again just now
        std::string failure; // why the files as they are now do not load, if known
    };

    Found find(Role role)
    {
        const auto now = recheckNow();
        std::lock_guard<std::mutex> lock(m_mutex);
        Entry &entry = m_entries[role == Role::Server ? 1 : 0];
        if (!entry.context)
            return {};
        if (now - entry.checked < kFileRecheckInterval)
            return {entry.context, true, false, entry.failure};
        entry.checked = now;
        const FileStamps &expected = entry.failure.empty() ? entry.files : entry.failedFiles;
        for (const auto &[path, stamp] : expected) {
            if (securesocket::engine::fileStamp(path) != stamp)
                return {entry.context, false, false, {}};
        }
        return {entry.context, true, true, entry.failure};
    }

    // The next find() looks at the files again, however recently they were looked at.
    void recheckNextTime()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (Entry &entry : m_entries)
            entry.checked = {};
    }

    void store(Role role, std::shared_ptr<const Context> context, FileStamps files,
               Clock::time_point checked)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_entries[role == Role::Server ? 1 : 0] = {
            std::move(context), std::move(files), checked, {}, {}};
    }

    // The files, as stamped, do not load: the context that did stays. True for the first
    // caller to record these stamps, who logs the failure.
    bool storeFailure(Role role, FileStamps files, Clock::time_point checked,
                      const std::string &failure)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        Entry &entry = m_entries[role == Role::Server ? 1 : 0];
        if (!entry.context || (!entry.failure.empty() && entry.failedFiles == files))
            return false;
        entry.failedFiles = std::move(files);
        entry.failure = failure;
        entry.checked = checked;
        return true;
    }

private:
    struct Entry
    {
        std::shared_ptr<const Context> context;
        FileStamps files; // those context was built from
        Clock::time_point checked;
        FileStamps failedFiles; // the last ones that did not load, when failure is set
        std::string failure;
    };
    mutable std::mutex m_mutex;
    Entry m_entries[2]; // client, server
};

// While secrets are written to a key log, once per process; and why SSLKEYLOGFILE's file is
// not written, once per process too.
void logKeyLog(const Context &context)
{
    static std::atomic<bool> warnedOn{false};
    static std::atomic<bool> warnedProblem{false};
    if (!context.keyLogFile().empty() && !warnedOn.exchange(true))
        qCWarning(lcConfiguration,
                  "TLS session secrets are written to the key log file '%s': whoever reads it "
                  "can decrypt these connections; use it for debugging only",
                  context.keyLogFile().c_str());
    if (!context.keyLogProblem().empty() && !warnedProblem.exchange(true))
        qCWarning(lcConfiguration, "%s", context.keyLogProblem().c_str());
}

// Each warning about our own certificate once per context, and again when it changes.
void logWarnings(const Context &context)
{
    for (const std::string &warning : context.warningsToLog(std::time(nullptr)))
        qCWarning(lcConfiguration, "%s", warning.c_str());
}

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
        wipe(psk);
        for (QByteArray &key : psks)
            wipe(key);
        wipeChains();
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
    static std::shared_ptr<const Context> reload(const SecureConfiguration &configuration,
                                                 Role role, std::string *error, bool *changed)
    {
        const SecureConfigurationPrivate &d = *configuration.d; // const: never detaches
        const std::shared_ptr<const Context> before = d.contexts.find(role).context;
        d.contexts.recheckNextTime();
        auto context = engineContext(configuration, role, error);
        if (changed)
            *changed = context != before;
        return context;
    }
    static void shareWithEqual(SecureConfiguration &configuration);
    static bool sharesData(const SecureConfiguration &a, const SecureConfiguration &b)
    {
        return a.d == b.d;
    }

    static void wipe(QByteArray &secret)
    {
        if (!secret.isEmpty()) {
            OPENSSL_cleanse(secret.data(), static_cast<size_t>(secret.size()));
            secret.clear();
        }
    }

    // SNI
    void wipeChains()
    {
        for (SecureConfiguration::LocalCertificateChain &chain : chains) {
            wipe(chain.keyPem);
            wipe(chain.passphrase);
        }
        chains.clear();
    }
    bool chainsHoldSecrets() const
    {
        return std::any_of(chains.cbegin(), chains.cend(),
                           [](const SecureConfiguration::LocalCertificateChain &chain) {
                               return !chain.keyPem.isEmpty() || !chain.passphrase.isEmpty();
                           });
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
               ticketKeyLifetime == o.ticketKeyLifetime && ticketCount == o.ticketCount &&
               handshakeTimeout == o.handshakeTimeout && keyLogFile == o.keyLogFile &&
               usePsk == o.usePsk && pskIdentity == o.pskIdentity && psk == o.psk &&
               psks == o.psks && pskHint == o.pskHint &&
               // OCSP stapling
               ocspResponseFile == o.ocspResponseFile && ocspRequired == o.ocspRequired &&
               // SNI
               chains == o.chains && refuseUnknownNames == o.refuseUnknownNames &&
               // Session tickets across processes
               ticketKeyFile == o.ticketKeyFile && pins == o.pins && pinningMode == o.pinningMode;
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
    SecureConfiguration::PeerVerifyMode verifyMode = SecureConfiguration::AutoVerifyPeer;
    QString verifyName;
    SecureConfiguration::TlsVersion minimum = SecureConfiguration::Tls12;
    SecureConfiguration::TlsVersion maximum = SecureConfiguration::Tls13;
    QByteArray cipherList;
    QByteArray cipherSuites;
    QList<QByteArray> alpn;
    bool resumption = true;
    int ticketKeyLifetime = 3600;
    int ticketCount = 1;
    int handshakeTimeout = 30000; // the socket's, not the context's: never in the cache key
    QString keyLogFile;
    QStringList pins;
    SecureConfiguration::PinningMode pinningMode = SecureConfiguration::PinsAddToVerification;
    bool usePsk = false; // turned on explicitly
    QByteArray pskIdentity;
    QByteArray psk;
    QMap<QByteArray, QByteArray> psks;
    QByteArray pskHint;
    // OCSP stapling
    QString ocspResponseFile;
    bool ocspRequired = false;
    // SNI
    QList<SecureConfiguration::LocalCertificateChain> chains;
    bool refuseUnknownNames = false;
    // Session tickets across processes
    QString ticketKeyFile;

    mutable EngineContextCache contexts; // not a setting: never compared, never copied
};

std::shared_ptr<const Context>
SecureConfigurationPrivate::engineContext(const SecureConfiguration &configuration, Role role,
                                          std::string *error)
{
    const SecureConfigurationPrivate &d = *configuration.d; // const: never detaches
    EngineContextCache::Found found = d.contexts.find(role);
    if (found.current) {
        if (found.rechecked) // at most once a second: a certificate may have come near its end
            logWarnings(*found.context);
        if (error)
            *error = found.failure;
        return found.context;
    }

    const securesocket::engine::Config config = securesocket::toEngineConfig(configuration, role);
    // Stamped before the context is looked up or built: a file changed in between makes the
    // stamps old, so it is looked at again, never the other way round.
    const auto checked = recheckNow();
    FileStamps files;
    for (const std::string *path : {&config.caFile, &config.crlFile, &config.certChainFile,
                                    &config.keyFile, &config.keyPassphraseFile,
                                    // OCSP stapling
                                    &config.ocspResponseFile,
                                    // Session tickets across processes
                                    &config.ticketKeyFile}) {
        if (!path->empty())
            files.emplace_back(*path, securesocket::engine::fileStamp(*path));
    }
    // SNI
    for (const securesocket::engine::ChainConfig &chain : config.extraChains) {
        for (const std::string *path :
             {&chain.certChainFile, &chain.keyFile, &chain.keyPassphraseFile}) {
            if (!path->empty())
                files.emplace_back(*path, securesocket::engine::fileStamp(*path));
        }
    }
    std::string failure;
    auto context = ContextCache::shared().get(config, role, &failure);
    if (context) {
        d.contexts.store(role, context, std::move(files), checked);
        logWarnings(*context);
        logKeyLog(*context);
        return context;
    }
    if (error)
        *error = failure;
    if (!found.context)
        return nullptr; // never loaded: nothing to fall back on
    if (d.contexts.storeFailure(role, std::move(files), checked, failure))
        qCCritical(lcConfiguration,
                   "%s; the certificate, key and CA files loaded before stay in use until the "
                   "files are fixed",
                   failure.c_str());
    return found.context;
}

void SecureConfigurationPrivate::shareWithEqual(SecureConfiguration &configuration)
{
    const SecureConfigurationPrivate &d = *configuration.d.constData(); // never detaches
    // Data held elsewhere too is a shared configuration already (the application's object, or
    // an equal one's found before): nothing to look up, and no global lock per connection.
    if (d.ref.loadRelaxed() > 1 || !d.keyPem.isEmpty() || !d.passphrase.isEmpty() ||
        !d.psk.isEmpty() || !d.psks.isEmpty() || d.chainsHoldSecrets())
        return;
    // The settings of the last few kinds of sockets, most recent first. Never destroyed: the
    // contexts they hold must not be freed after OpenSSL's own clean-up at exit.
    constexpr std::size_t kRemembered = 16;
    static auto *mutex = new std::mutex;
    static auto *recent = new std::list<SecureConfiguration>;
    std::lock_guard<std::mutex> lock(*mutex);
    for (auto it = recent->begin(); it != recent->end(); ++it) {
        if (it->d != configuration.d) {
            if (!(*it->d.constData() == d))
                continue;
            // A configuration object of its own sees files as they are now, as it did
            // before it shared anything: they may have been replaced a moment ago.
            it->d.constData()->contexts.recheckNextTime();
            configuration.d = it->d;
        }
        recent->splice(recent->begin(), *recent, it);
        return;
    }
    recent->push_front(configuration);
    if (recent->size() > kRemembered)
        recent->pop_back();
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
SECURESOCKET_PROPERTY(QString, keyLogFile, setKeyLogFile, keyLogFile)
SECURESOCKET_PROPERTY(QStringList, pinnedPublicKeys, setPinnedPublicKeys, pins)
SecureConfiguration::PinningMode SecureConfiguration::pinningMode() const
{
    return d->pinningMode;
}
void SecureConfiguration::setPinningMode(PinningMode mode)
{
    SecureConfigurationPrivate::edit(d).pinningMode = mode;
}
SECURESOCKET_PROPERTY(QByteArray, preSharedKeyIdentityHint, setPreSharedKeyIdentityHint, pskHint)

bool SecureConfiguration::preSharedKeyAuthentication() const
{
    return d->usePsk || !d->pskIdentity.isEmpty() || !d->psks.isEmpty();
}
void SecureConfiguration::setPreSharedKeyAuthentication(bool enabled)
{
    SecureConfigurationPrivate::edit(d).usePsk = enabled;
}
QByteArray SecureConfiguration::preSharedKeyIdentity() const
{
    return d->pskIdentity;
}
QByteArray SecureConfiguration::preSharedKey() const
{
    return d->psk;
}
void SecureConfiguration::setPreSharedKey(const QByteArray &identity, const QByteArray &key)
{
    SecureConfigurationPrivate &data = SecureConfigurationPrivate::edit(d);
    data.pskIdentity = identity;
    SecureConfigurationPrivate::wipe(data.psk);
    data.psk = key;
}
QMap<QByteArray, QByteArray> SecureConfiguration::preSharedKeys() const
{
    return d->psks;
}
void SecureConfiguration::setPreSharedKeys(const QMap<QByteArray, QByteArray> &keysByIdentity)
{
    SecureConfigurationPrivate &data = SecureConfigurationPrivate::edit(d);
    for (QByteArray &key : data.psks)
        SecureConfigurationPrivate::wipe(key);
    data.psks = keysByIdentity;
}
// OCSP stapling
SECURESOCKET_PROPERTY(QString, ocspResponseFile, setOcspResponseFile, ocspResponseFile)
// Session tickets across processes
SECURESOCKET_PROPERTY(QString, ticketKeyFile, setTicketKeyFile, ticketKeyFile)
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
int SecureConfiguration::sessionTicketCount() const
{
    return d->ticketCount;
}
void SecureConfiguration::setSessionTicketCount(int count)
{
    SecureConfigurationPrivate::edit(d).ticketCount = std::max(0, count);
}

// OCSP stapling
bool SecureConfiguration::ocspStaplingRequired() const
{
    return d->ocspRequired;
}
void SecureConfiguration::setOcspStaplingRequired(bool required)
{
    SecureConfigurationPrivate::edit(d).ocspRequired = required;
}

int SecureConfiguration::handshakeTimeout() const
{
    return d->handshakeTimeout;
}
void SecureConfiguration::setHandshakeTimeout(int msecs)
{
    msecs = std::max(0, msecs);
    if (std::as_const(d)->handshakeTimeout == msecs)
        return;
    // A setting of the sockets, not of the context: the copy keeps the contexts (the last good
    // one included) instead of starting empty as after other setters.
    const QSharedDataPointer<SecureConfigurationPrivate> before = d;
    d->handshakeTimeout = msecs; // detaches: before holds a reference
    d->contexts.copyFrom(before->contexts);
}

// SNI
void SecureConfiguration::addLocalCertificateChain(const QString &chainFile, const QString &keyFile,
                                                   const QByteArray &passphrase)
{
    LocalCertificateChain chain;
    chain.chainFile = chainFile;
    chain.keyFile = keyFile;
    chain.passphrase = passphrase;
    addLocalCertificateChain(chain);
}
void SecureConfiguration::addLocalCertificateChain(const LocalCertificateChain &chain)
{
    SecureConfigurationPrivate::edit(d).chains.append(chain);
}
QList<SecureConfiguration::LocalCertificateChain>
SecureConfiguration::localCertificateChains() const
{
    return d->chains;
}
void SecureConfiguration::clearLocalCertificateChains()
{
    if (!std::as_const(d)->chains.isEmpty())
        SecureConfigurationPrivate::edit(d).wipeChains();
}
bool SecureConfiguration::refuseUnknownServerName() const
{
    return d->refuseUnknownNames;
}
void SecureConfiguration::setRefuseUnknownServerName(bool refuse)
{
    SecureConfigurationPrivate::edit(d).refuseUnknownNames = refuse;
}

QString SecureConfiguration::validate(bool serverRole) const
{
    std::string error;
    securesocket::engineContext(*this, serverRole ? Role::Server : Role::Client, &error);
    return QString::fromStdString(error);
}

QStringList SecureConfiguration::certificateWarnings(bool serverRole) const
{
    std::string error;
    const auto context =
        securesocket::engineContext(*this, serverRole ? Role::Server : Role::Client, &error);
    QStringList warnings;
    if (context) {
        for (const std::string &warning : context->warnings(std::time(nullptr)))
            warnings << QString::fromStdString(warning);
    }
    return warnings;
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

std::shared_ptr<const engine::Context> reloadEngineContext(const SecureConfiguration &configuration,
                                                           engine::Role role, std::string *error,
                                                           bool *changed)
{
    return SecureConfigurationPrivate::reload(configuration, role, error, changed);
}

void shareWithEqualConfiguration(SecureConfiguration &configuration)
{
    SecureConfigurationPrivate::shareWithEqual(configuration);
}

engine::Config toEngineConfig(const SecureConfiguration &configuration, engine::Role role)
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
    case SecureConfiguration::AutoVerifyPeer:
        config.verifyMode =
            role == engine::Role::Client ? engine::VerifyMode::Verify : engine::VerifyMode::Query;
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
    config.sessionTicketCount = configuration.sessionTicketCount();
    config.usePsk = configuration.preSharedKeyAuthentication();
    config.pskIdentity = configuration.preSharedKeyIdentity().toStdString();
    config.pskKey = engine::SecretString(configuration.preSharedKey().toStdString());
    const QMap<QByteArray, QByteArray> psks = configuration.preSharedKeys();
    for (auto it = psks.cbegin(); it != psks.cend(); ++it)
        config.serverPsks.emplace_back(it.key().toStdString(),
                                       engine::SecretString(it.value().toStdString()));
    config.pskIdentityHint = configuration.preSharedKeyIdentityHint().toStdString();
    for (const QString &pin : configuration.pinnedPublicKeys())
        config.pins.push_back(pin.toStdString());
    config.pinsOnly = configuration.pinningMode() == SecureConfiguration::PinsAreTrustAnchors;
    config.keyLogFile = fileName(configuration.keyLogFile());
    if (config.keyLogFile.empty()) {
        config.keyLogFile = fileName(qEnvironmentVariable("SSLKEYLOGFILE"));
        config.keyLogFromEnvironment = !config.keyLogFile.empty();
    }
    // OCSP stapling
    config.ocspResponseFile = fileName(configuration.ocspResponseFile());
    config.ocspStaplingRequired = configuration.ocspStaplingRequired();
    // SNI
    config.refuseUnknownServerName = configuration.refuseUnknownServerName();
    for (const SecureConfiguration::LocalCertificateChain &chain :
         configuration.localCertificateChains()) {
        engine::ChainConfig &out = config.extraChains.emplace_back();
        out.certChainFile = fileName(chain.chainFile);
        out.certChainPem = chain.chainPem.toStdString();
        out.keyFile = fileName(chain.keyFile);
        out.keyPem = chain.keyPem.toStdString();
        out.keyPassphrase = engine::SecretString(chain.passphrase.toStdString());
        out.keyPassphraseFile = fileName(chain.passphraseFile);
    }
    // Session tickets across processes
    if (role == engine::Role::Server) // a client's contexts never depend on it
        config.ticketKeyFile = fileName(configuration.ticketKeyFile());
    return config;
}

} // namespace securesocket

void securesocket::testing::setFileRecheckClock(SteadyClock clock)
{
    std::lock_guard<std::mutex> lock(g_clockMutex);
    g_clock = std::move(clock);
    g_clockSet.store(static_cast<bool>(g_clock), std::memory_order_release);
}

// Session tickets across processes
void securesocket::testing::setTicketKeyClock(WallClock clock)
{
    securesocket::engine::setSystemClockForTesting(std::move(clock));
}

bool securesocket::testing::sharesData(const SecureConfiguration &a, const SecureConfiguration &b)
{
    return SecureConfigurationPrivate::sharesData(a, b);
}
