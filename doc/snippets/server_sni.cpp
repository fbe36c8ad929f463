// doc/server-sni.md: the API of several certificate chains (a listing checked against the
// header), and a server with four chains. Built by the suite (snippet_server_sni) and run
// without arguments: it then only checks the listing (no file is read, nothing listens).
#include <SecureSocket/secureserver.h>

#include <QCoreApplication>

#include <type_traits>

// The listing of the guide, declared in a class of its own so that it compiles; checkListing()
// checks it against SecureConfiguration's declarations.
class Listed
{
public:
    // clang-format off
    //! [api]
    struct LocalCertificateChain {
        QString chainFile;      QByteArray chainPem;   // PEM, leaf first; the file wins if both
        QString keyFile;        QByteArray keyPem;     // PEM, plain or encrypted
        QByteArray passphrase;  QString passphraseFile; // of an encrypted key; the file's first line
    };
    void addLocalCertificateChain(const QString &chainFile, const QString &keyFile,
                                  const QByteArray &passphrase = {});
    void addLocalCertificateChain(const LocalCertificateChain &chain);
    QList<LocalCertificateChain> localCertificateChains() const;
    void clearLocalCertificateChains();
    bool refuseUnknownServerName() const;          // default false
    void setRefuseUnknownServerName(bool refuse);
    //! [api]
    // clang-format on
};

// Each listed member has its twin, of the same type, in SecureConfiguration (a static_cast to a
// member pointer type does not compile when no member has that type).
#define SAME_FIELD(name)                                                                           \
    static_assert(std::is_same_v<decltype(Listed::LocalCertificateChain::name),                    \
                                 decltype(SecureConfiguration::LocalCertificateChain::name)>,      \
                  #name)
SAME_FIELD(chainFile);
SAME_FIELD(chainPem);
SAME_FIELD(keyFile);
SAME_FIELD(keyPem);
SAME_FIELD(passphrase);
SAME_FIELD(passphraseFile);
static_assert(sizeof(Listed::LocalCertificateChain) ==
                  sizeof(SecureConfiguration::LocalCertificateChain),
              "the listing shows every field");

bool checkListing()
{
    using Config = SecureConfiguration;
    using Chain = SecureConfiguration::LocalCertificateChain;
    const auto addFiles =
        static_cast<void (Config::*)(const QString &, const QString &, const QByteArray &)>(
            &Config::addLocalCertificateChain);
    const auto addChain =
        static_cast<void (Config::*)(const Chain &)>(&Config::addLocalCertificateChain);
    const auto chains =
        static_cast<QList<Chain> (Config::*)() const>(&Config::localCertificateChains);
    const auto clear = static_cast<void (Config::*)()>(&Config::clearLocalCertificateChains);
    const auto refuse = static_cast<bool (Config::*)() const>(&Config::refuseUnknownServerName);
    const auto setRefuse = static_cast<void (Config::*)(bool)>(&Config::setRefuseUnknownServerName);
    Config config;
    (config.*addFiles)(QStringLiteral("a.pem"), QStringLiteral("a.key"), {});
    (config.*addChain)(Chain{});
    const bool added = (config.*chains)().size() == 2;
    (config.*clear)();
    const bool defaultRefuse = (config.*refuse)();
    (config.*setRefuse)(true);
    return added && config.localCertificateChains().isEmpty() && !defaultRefuse &&
           config.refuseUnknownServerName();
}

void serveFourChains(SecureServer &server)
{
    // clang-format off
    //! [example]
    SecureConfiguration config;
    config.setLocalCertificateChainFile("default.pem");   // served without SNI or for unknown names
    config.setPrivateKeyFile("default.key");
    config.addLocalCertificateChain("mail-ecdsa.pem", "mail-ecdsa.key");
    config.addLocalCertificateChain("mail-rsa.pem", "mail-rsa.key");   // same names, RSA
    SecureConfiguration::LocalCertificateChain wildcard;
    wildcard.chainFile = "wildcard.pem";                   // *.example.org
    wildcard.keyFile = "wildcard.key";                     // encrypted
    wildcard.passphraseFile = "wildcard.pass";
    config.addLocalCertificateChain(wildcard);
    if (const QString problem = config.validate(true); !problem.isEmpty())
        qFatal("%s", qPrintable(problem));
    server.setConfiguration(config);
    //! [example]
    // clang-format on
}

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    if (argc > 1) { // in a directory holding the guide's files
        SecureServer server;
        serveFourChains(server);
    }
    return checkListing() ? 0 : 1;
}
