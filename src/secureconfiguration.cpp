#include <SecureSocket/secureconfiguration.h>

#include "secureconfiguration_p.h"

#include <QFile>
#include <QSharedData>

class SecureConfigurationPrivate : public QSharedData
{
public:
    SecureConfigurationPrivate() = default;
    SecureConfigurationPrivate(const SecureConfigurationPrivate &) = default;
    ~SecureConfigurationPrivate() { wipe(passphrase); }

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
               ticketKeyLifetime == o.ticketKeyLifetime;
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
};

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
        d->member = value;                                                                         \
    }

SECURESOCKET_PROPERTY(QString, caCertificatesFile, setCaCertificatesFile, caFile)
SECURESOCKET_PROPERTY(QString, caCertificatesDirectory, setCaCertificatesDirectory, caDirectory)
SECURESOCKET_PROPERTY(QByteArray, caCertificatesPem, setCaCertificatesPem, caPem)
SECURESOCKET_PROPERTY(QString, crlFile, setCrlFile, crlFile)
SECURESOCKET_PROPERTY(QString, localCertificateChainFile, setLocalCertificateChainFile, certFile)
SECURESOCKET_PROPERTY(QByteArray, localCertificateChainPem, setLocalCertificateChainPem, certPem)
SECURESOCKET_PROPERTY(QString, privateKeyFile, setPrivateKeyFile, keyFile)
SECURESOCKET_PROPERTY(QByteArray, privateKeyPem, setPrivateKeyPem, keyPem)
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
    d->useSystemCas = use;
}
QByteArray SecureConfiguration::privateKeyPassphrase() const
{
    return d->passphrase;
}
void SecureConfiguration::setPrivateKeyPassphrase(const QByteArray &passphrase)
{
    SecureConfigurationPrivate::wipe(d->passphrase);
    d->passphrase = passphrase;
}
SecureConfiguration::PeerVerifyMode SecureConfiguration::peerVerifyMode() const
{
    return d->verifyMode;
}
void SecureConfiguration::setPeerVerifyMode(PeerVerifyMode mode)
{
    d->verifyMode = mode;
}
SecureConfiguration::TlsVersion SecureConfiguration::minimumProtocol() const
{
    return d->minimum;
}
void SecureConfiguration::setMinimumProtocol(TlsVersion version)
{
    d->minimum = version;
}
SecureConfiguration::TlsVersion SecureConfiguration::maximumProtocol() const
{
    return d->maximum;
}
void SecureConfiguration::setMaximumProtocol(TlsVersion version)
{
    d->maximum = version;
}

bool SecureConfiguration::sessionResumption() const
{
    return d->resumption;
}
void SecureConfiguration::setSessionResumption(bool enabled)
{
    d->resumption = enabled;
}
int SecureConfiguration::ticketKeyLifetime() const
{
    return d->ticketKeyLifetime;
}
void SecureConfiguration::setTicketKeyLifetime(int seconds)
{
    d->ticketKeyLifetime = seconds;
}

QString SecureConfiguration::validate(bool serverRole) const
{
    std::string error;
    const auto role =
        serverRole ? securesocket::engine::Role::Server : securesocket::engine::Role::Client;
    if (securesocket::engine::Context::get(securesocket::toEngineConfig(*this), role, &error))
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
