// SecureConfiguration: value semantics, secure defaults, and validate() naming the file and the
// cause of a bad setting.
#include <SecureSocket/secureconfiguration.h>

#include "logcapture.h"
#include "recheckclock.h"
#include "testpki.h"

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace {

using testsupport::CategoryLog;
using testsupport::replaceFile;

// A setter applied to a configuration, with its name for messages.
struct Change
{
    const char *name;
    std::function<void(SecureConfiguration &)> apply;
};

const QList<Change> &allChanges()
{
    static const QList<Change> changes = {
        {"caCertificatesFile", [](SecureConfiguration &c) { c.setCaCertificatesFile("ca.pem"); }},
        {"caCertificatesDirectory",
         [](SecureConfiguration &c) { c.setCaCertificatesDirectory("/etc/ssl/certs"); }},
        {"caCertificatesPem", [](SecureConfiguration &c) { c.setCaCertificatesPem("pem"); }},
        {"useSystemCaCertificates",
         [](SecureConfiguration &c) { c.setUseSystemCaCertificates(false); }},
        {"crlFile", [](SecureConfiguration &c) { c.setCrlFile("crl.pem"); }},
        {"localCertificateChainFile",
         [](SecureConfiguration &c) { c.setLocalCertificateChainFile("chain.pem"); }},
        {"localCertificateChainPem",
         [](SecureConfiguration &c) { c.setLocalCertificateChainPem("pem"); }},
        {"privateKeyFile", [](SecureConfiguration &c) { c.setPrivateKeyFile("key.pem"); }},
        {"privateKeyPem", [](SecureConfiguration &c) { c.setPrivateKeyPem("pem"); }},
        {"privateKeyPassphrase",
         [](SecureConfiguration &c) { c.setPrivateKeyPassphrase("secret"); }},
        {"privateKeyPassphraseFile",
         [](SecureConfiguration &c) { c.setPrivateKeyPassphraseFile("pass.txt"); }},
        {"peerVerifyMode",
         [](SecureConfiguration &c) { c.setPeerVerifyMode(SecureConfiguration::QueryPeer); }},
        {"peerVerifyName", [](SecureConfiguration &c) { c.setPeerVerifyName("example.com"); }},
        {"minimumProtocol",
         [](SecureConfiguration &c) { c.setMinimumProtocol(SecureConfiguration::Tls13); }},
        {"maximumProtocol",
         [](SecureConfiguration &c) { c.setMaximumProtocol(SecureConfiguration::Tls12); }},
        {"cipherList", [](SecureConfiguration &c) { c.setCipherList("ECDHE+AESGCM"); }},
        {"cipherSuites",
         [](SecureConfiguration &c) { c.setCipherSuites("TLS_AES_128_GCM_SHA256"); }},
        {"alpnProtocols", [](SecureConfiguration &c) { c.setAlpnProtocols({"h2"}); }},
        {"sessionResumption", [](SecureConfiguration &c) { c.setSessionResumption(false); }},
        {"ticketKeyLifetime", [](SecureConfiguration &c) { c.setTicketKeyLifetime(60); }},
        {"sessionTicketCount", [](SecureConfiguration &c) { c.setSessionTicketCount(0); }},
    };
    return changes;
}

} // namespace

class TestConfiguration : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void defaults();
    void copyIsEqualAndIndependent();
    void everySettingTakesPartInEquality_data();
    void everySettingTakesPartInEquality();
    void settersRoundTrip();

    void validateGoodConfigurations();
    void validateNamesTheFile_data();
    void validateNamesTheFile();
    void validateEncryptedKey();
    void validateNonAsciiPath();
    void validateSeesAChangedSettingAtOnce();
    void validateSeesAReplacedFile();
    void validateFromManyThreads();
    void certificateWarningsAreLoggedOnce();
    void changedFilesThatDoNotLoadKeepTheOldSettings();
    void systemCaCertificatesSource();

private:
    QString write(const QString &name, const std::string &content);
    SecureConfiguration serverConfiguration() const;

    QTemporaryDir m_dir;
    testpki::Issued m_ca;
    testpki::Issued m_server;
    QString m_caFile;
    QString m_certFile;
    QString m_keyFile;
    QString m_encryptedKeyFile;
};

QString TestConfiguration::write(const QString &name, const std::string &content)
{
    const QString path = m_dir.filePath(name);
    testpki::writeFile(path.toStdString(), content);
    return path;
}

SecureConfiguration TestConfiguration::serverConfiguration() const
{
    SecureConfiguration configuration;
    configuration.setUseSystemCaCertificates(false);
    configuration.setLocalCertificateChainFile(m_certFile);
    configuration.setPrivateKeyFile(m_keyFile);
    return configuration;
}

void TestConfiguration::initTestCase()
{
    QVERIFY(m_dir.isValid());
    testpki::CertSpec ca;
    ca.commonName = "Configuration Test CA";
    ca.isCa = true;
    m_ca = testpki::makeCertificate(ca);
    testpki::CertSpec leaf;
    leaf.commonName = "localhost";
    leaf.dnsNames = {"localhost"};
    m_server = testpki::makeCertificate(leaf, &m_ca);
    m_caFile = write("ca.pem", m_ca.certPem);
    m_certFile = write("server.pem", m_server.certPem);
    m_keyFile = write("server.key", m_server.keyPem);
    m_encryptedKeyFile =
        write("server-encrypted.key", testpki::encryptKey(m_server.keyPem, "open sesame"));
}

void TestConfiguration::defaults()
{
    const SecureConfiguration configuration;
    QCOMPARE(configuration.peerVerifyMode(), SecureConfiguration::AutoVerifyPeer);
    QCOMPARE(configuration.minimumProtocol(), SecureConfiguration::Tls12);
    QCOMPARE(configuration.maximumProtocol(), SecureConfiguration::Tls13);
    QCOMPARE(configuration.useSystemCaCertificates(), true);
    QVERIFY(configuration.caCertificatesFile().isEmpty());
    QVERIFY(configuration.caCertificatesDirectory().isEmpty());
    QVERIFY(configuration.caCertificatesPem().isEmpty());
    QVERIFY(configuration.crlFile().isEmpty());
    QVERIFY(configuration.localCertificateChainFile().isEmpty());
    QVERIFY(configuration.localCertificateChainPem().isEmpty());
    QVERIFY(configuration.privateKeyFile().isEmpty());
    QVERIFY(configuration.privateKeyPem().isEmpty());
    QVERIFY(configuration.privateKeyPassphrase().isEmpty());
    QVERIFY(configuration.privateKeyPassphraseFile().isEmpty());
    QVERIFY(configuration.peerVerifyName().isEmpty());
    QVERIFY(configuration.cipherList().isEmpty());
    QVERIFY(configuration.cipherSuites().isEmpty());
    QVERIFY(configuration.alpnProtocols().isEmpty());
    QCOMPARE(configuration.sessionResumption(), true);
    QCOMPARE(configuration.ticketKeyLifetime(), 3600);
    QCOMPARE(configuration.sessionTicketCount(), 1);
    QVERIFY(configuration == SecureConfiguration());
    SecureConfiguration negative;
    negative.setSessionTicketCount(-3); // no such count: none
    QCOMPARE(negative.sessionTicketCount(), 0);
}

void TestConfiguration::copyIsEqualAndIndependent()
{
    SecureConfiguration original;
    original.setAlpnProtocols({"h2", "http/1.1"});
    original.setPeerVerifyName("example.com");

    SecureConfiguration copy(original);
    QVERIFY(copy == original);
    QVERIFY(!(copy != original));

    copy.setPeerVerifyMode(SecureConfiguration::VerifyNone);
    copy.setAlpnProtocols({"imap"});
    QCOMPARE(original.peerVerifyMode(), SecureConfiguration::AutoVerifyPeer);
    QCOMPARE(original.alpnProtocols(), (QList<QByteArray>{"h2", "http/1.1"}));
    QVERIFY(copy != original);

    SecureConfiguration assigned;
    assigned = original;
    QVERIFY(assigned == original);
    assigned.setPeerVerifyName("other.example");
    QCOMPARE(original.peerVerifyName(), QString("example.com"));

    // Equal content, built separately, is equal too.
    SecureConfiguration rebuilt;
    rebuilt.setAlpnProtocols({"h2", "http/1.1"});
    rebuilt.setPeerVerifyName("example.com");
    QVERIFY(rebuilt == original);

    SecureConfiguration &self = original;
    original = self;
    QVERIFY(original == rebuilt);
}

void TestConfiguration::everySettingTakesPartInEquality_data()
{
    QTest::addColumn<int>("index");
    for (int i = 0; i < allChanges().size(); ++i)
        QTest::newRow(allChanges()[i].name) << i;
}

void TestConfiguration::everySettingTakesPartInEquality()
{
    QFETCH(int, index);
    const SecureConfiguration original;
    SecureConfiguration changed = original;
    allChanges()[index].apply(changed);
    QVERIFY(changed != original);
    QVERIFY(!(changed == original));
    QVERIFY2(original == SecureConfiguration(), "the original is untouched");

    SecureConfiguration same;
    allChanges()[index].apply(same);
    QVERIFY(same == changed);
}

void TestConfiguration::settersRoundTrip()
{
    SecureConfiguration c;
    for (const Change &change : allChanges())
        change.apply(c);
    QCOMPARE(c.caCertificatesFile(), QString("ca.pem"));
    QCOMPARE(c.caCertificatesDirectory(), QString("/etc/ssl/certs"));
    QCOMPARE(c.caCertificatesPem(), QByteArray("pem"));
    QCOMPARE(c.useSystemCaCertificates(), false);
    QCOMPARE(c.crlFile(), QString("crl.pem"));
    QCOMPARE(c.localCertificateChainFile(), QString("chain.pem"));
    QCOMPARE(c.localCertificateChainPem(), QByteArray("pem"));
    QCOMPARE(c.privateKeyFile(), QString("key.pem"));
    QCOMPARE(c.privateKeyPem(), QByteArray("pem"));
    QCOMPARE(c.privateKeyPassphrase(), QByteArray("secret"));
    QCOMPARE(c.privateKeyPassphraseFile(), QString("pass.txt"));
    QCOMPARE(c.peerVerifyMode(), SecureConfiguration::QueryPeer);
    QCOMPARE(c.peerVerifyName(), QString("example.com"));
    QCOMPARE(c.minimumProtocol(), SecureConfiguration::Tls13);
    QCOMPARE(c.maximumProtocol(), SecureConfiguration::Tls12);
    QCOMPARE(c.cipherList(), QByteArray("ECDHE+AESGCM"));
    QCOMPARE(c.cipherSuites(), QByteArray("TLS_AES_128_GCM_SHA256"));
    QCOMPARE(c.alpnProtocols(), QList<QByteArray>{"h2"});
    QCOMPARE(c.sessionResumption(), false);
    QCOMPARE(c.ticketKeyLifetime(), 60);
    QCOMPARE(c.sessionTicketCount(), 0);

    c.setPrivateKeyPassphrase({});
    QVERIFY(c.privateKeyPassphrase().isEmpty());
}

void TestConfiguration::validateGoodConfigurations()
{
    QCOMPARE(serverConfiguration().validate(true), QString());

    SecureConfiguration client;
    client.setCaCertificatesFile(m_caFile);
    QCOMPARE(client.validate(), QString());
    QCOMPARE(SecureConfiguration().validate(), QString()); // system CAs only

    SecureConfiguration inMemory;
    inMemory.setUseSystemCaCertificates(false);
    inMemory.setLocalCertificateChainPem(QByteArray::fromStdString(m_server.certPem));
    inMemory.setPrivateKeyPem(QByteArray::fromStdString(m_server.keyPem));
    QCOMPARE(inMemory.validate(true), QString());
}

void TestConfiguration::validateNamesTheFile_data()
{
    QTest::addColumn<QString>("scenario");
    QTest::addColumn<QStringList>("fragments");
    QTest::newRow("missing key file")
        << "missing key file" << QStringList{"missing.key", "No such file"};
    QTest::newRow("wrong passphrase")
        << "wrong passphrase" << QStringList{"wrong passphrase", "server-encrypted.key"};
    QTest::newRow("no passphrase")
        << "no passphrase" << QStringList{"no passphrase", "server-encrypted.key"};
    QTest::newRow("missing CA file")
        << "missing CA file" << QStringList{"CA file", "missing-ca.pem"};
    QTest::newRow("no certificate for a server")
        << "no certificate for a server" << QStringList{"certificate"};
}

void TestConfiguration::validateNamesTheFile()
{
    QFETCH(QString, scenario);
    QFETCH(QStringList, fragments);
    SecureConfiguration configuration = serverConfiguration();
    if (scenario == "missing key file") {
        configuration.setPrivateKeyFile(m_dir.filePath("missing.key"));
    } else if (scenario == "wrong passphrase") {
        configuration.setPrivateKeyFile(m_encryptedKeyFile);
        configuration.setPrivateKeyPassphrase("close sesame");
    } else if (scenario == "no passphrase") {
        configuration.setPrivateKeyFile(m_encryptedKeyFile);
    } else if (scenario == "missing CA file") {
        configuration.setCaCertificatesFile(m_dir.filePath("missing-ca.pem"));
    } else if (scenario == "no certificate for a server") {
        configuration = SecureConfiguration();
    } else {
        QFAIL(qPrintable("unknown scenario " + scenario));
    }
    const QString message = configuration.validate(true);
    QVERIFY(!message.isEmpty());
    for (const QString &fragment : fragments)
        QVERIFY2(message.contains(fragment), qPrintable("'" + fragment + "' not in: " + message));
}

void TestConfiguration::validateEncryptedKey()
{
    SecureConfiguration configuration = serverConfiguration();
    configuration.setPrivateKeyFile(m_encryptedKeyFile);
    configuration.setPrivateKeyPassphrase("open sesame");
    QCOMPARE(configuration.validate(true), QString());

    SecureConfiguration fromFile = serverConfiguration();
    fromFile.setPrivateKeyFile(m_encryptedKeyFile);
    fromFile.setPrivateKeyPassphraseFile(write("passphrase.txt", "open sesame\n"));
    QCOMPARE(fromFile.validate(true), QString());
}

void TestConfiguration::validateNonAsciiPath()
{
    QVERIFY(QDir(m_dir.path()).mkpath(QString::fromUtf8("répertoire ☃")));
    const QString sub = QString::fromUtf8("répertoire ☃/");
    SecureConfiguration configuration;
    configuration.setUseSystemCaCertificates(false);
    configuration.setLocalCertificateChainFile(write(sub + "server.pem", m_server.certPem));
    configuration.setPrivateKeyFile(write(sub + QString::fromUtf8("clé.key"), m_server.keyPem));
    QCOMPARE(configuration.validate(true), QString());

    configuration.setPrivateKeyFile(m_dir.filePath(sub + QString::fromUtf8("absente.key")));
    const QString message = configuration.validate(true);
    QVERIFY2(message.contains(QString::fromUtf8("répertoire ☃/absente.key")), qPrintable(message));
}

void TestConfiguration::validateSeesAChangedSettingAtOnce()
{
    // The context found for a configuration is remembered in its shared data: a setting
    // changed on a copy, or on the only owner, must not find the old one.
    const SecureConfiguration original = serverConfiguration();
    QCOMPARE(original.validate(true), QString());
    SecureConfiguration copy = original;
    QCOMPARE(copy.validate(true), QString());
    copy.setPrivateKeyFile(m_dir.filePath("missing.key"));
    QVERIFY2(copy.validate(true).contains("missing.key"), qPrintable(copy.validate(true)));
    QCOMPARE(original.validate(true), QString());

    SecureConfiguration only = serverConfiguration();
    QCOMPARE(only.validate(true), QString());
    only.setLocalCertificateChainFile(m_caFile); // a certificate that does not match the key
    QVERIFY2(only.validate(true).contains("does not match"), qPrintable(only.validate(true)));
    only.setLocalCertificateChainFile(m_certFile);
    QCOMPARE(only.validate(true), QString());
    // Client and server contexts are remembered apart.
    QVERIFY(!SecureConfiguration().validate(true).isEmpty());
    QCOMPARE(SecureConfiguration().validate(false), QString());
}

void TestConfiguration::validateSeesAReplacedFile()
{
    // Files are looked at again at most once a second; a second and a bit after a key file
    // is replaced, validate() and new connections see the new one.
    SecureConfiguration configuration = serverConfiguration();
    configuration.setLocalCertificateChainFile(write("replaced.pem", m_server.certPem));
    configuration.setPrivateKeyFile(write("replaced.key", m_server.keyPem));
    QCOMPARE(configuration.validate(true), QString());

    const QString broken = write("broken.key", "not a key\n");
    QFile::remove(m_dir.filePath("replaced.key"));
    QVERIFY(QFile::rename(broken, m_dir.filePath("replaced.key")));
    QTRY_VERIFY_WITH_TIMEOUT(configuration.validate(true).contains("holds no PEM private key"),
                             3000);
    const SecureConfiguration copy = configuration; // shares what was found: nothing
    QVERIFY(!copy.validate(true).isEmpty());

    write("replaced.key", m_server.keyPem);
    QTRY_COMPARE_WITH_TIMEOUT(configuration.validate(true), QString(), 3000);
    QCOMPARE(copy.validate(true), QString());
}

void TestConfiguration::validateFromManyThreads()
{
    // Copies of one configuration used in several threads at once, some changing their copy.
    const SecureConfiguration shared = serverConfiguration();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&shared, &failures, t, this] {
            for (int i = 0; i < 200; ++i) {
                SecureConfiguration copy = shared;
                if (!copy.validate(true).isEmpty() || !shared.validate(true).isEmpty())
                    ++failures;
                if (t == 0 && i % 20 == 0) {
                    copy.setPrivateKeyFile(m_dir.filePath("missing.key"));
                    if (copy.validate(true).isEmpty())
                        ++failures;
                }
            }
        });
    }
    for (std::thread &thread : threads)
        thread.join();
    QCOMPARE(failures.load(), 0);
}

void TestConfiguration::certificateWarningsAreLoggedOnce()
{
    testpki::CertSpec spec;
    spec.commonName = "localhost";
    spec.notBeforeOffset = -30L * 24 * 3600;
    spec.notAfterOffset = -24L * 3600;
    const testpki::Issued expired = testpki::makeCertificate(spec, &m_ca);
    SecureConfiguration configuration = serverConfiguration();
    configuration.setLocalCertificateChainFile(write("expired.pem", expired.certPem));
    configuration.setPrivateKeyFile(write("expired.key", expired.keyPem));

    CategoryLog log("securesocket.configuration");
    QCOMPARE(configuration.validate(true), QString()); // a warning is not an error
    const QStringList warnings = configuration.certificateWarnings(true);
    QCOMPARE(warnings.size(), 1);
    QVERIFY2(QRegularExpression("^certificate file '.*/expired.pem' \\('CN=localhost'\\) "
                                "expired on \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC$")
                 .match(warnings[0])
                 .hasMatch(),
             qPrintable(warnings[0]));
    // Copies and equal configurations share the context: nothing more is logged.
    const SecureConfiguration copy = configuration;
    QCOMPARE(copy.certificateWarnings(true), warnings);
    SecureConfiguration equal = serverConfiguration();
    equal.setLocalCertificateChainFile(configuration.localCertificateChainFile());
    equal.setPrivateKeyFile(configuration.privateKeyFile());
    QCOMPARE(equal.validate(true), QString());
    QCOMPARE(equal.certificateWarnings(true), warnings);
    QCOMPARE(log.messages().size(), 1);
    QCOMPARE(log.messages()[0].first, QtWarningMsg);
    QCOMPARE(log.messages()[0].second, warnings[0]);

    QCOMPARE(serverConfiguration().certificateWarnings(true), QStringList());
    QCOMPARE(SecureConfiguration().certificateWarnings(true), QStringList()); // does not load
    QCOMPARE(log.messages().size(), 1);
}

void TestConfiguration::changedFilesThatDoNotLoadKeepTheOldSettings()
{
    // One combined PEM file (certificate and key), so that each change is one rename.
    testpki::CertSpec spec;
    spec.commonName = "localhost";
    const testpki::Issued other = testpki::makeCertificate(spec, &m_ca);
    const std::string good = m_server.certPem + m_server.keyPem;
    const QString path = write("reloaded.pem", good);
    SecureConfiguration configuration = serverConfiguration();
    configuration.setLocalCertificateChainFile(path);
    configuration.setPrivateKeyFile(path);
    QCOMPARE(configuration.validate(true), QString());

    CategoryLog log("securesocket.configuration");
    const struct
    {
        const char *name;
        std::string content;
        const char *cause;
    } changes[] = {
        {"x", "x\n", "holds no PEM certificate"},
        {"half written", good.substr(0, good.size() / 2), "no END line"},
        {"key no longer matches", other.certPem + m_server.keyPem, "does not match"},
    };
    // The files are looked at again at most once a second: the test moves the clock on.
    RecheckClock clock;
    for (const auto &change : changes) {
        log.messages().clear();
        replaceFile(path, change.content);
        clock.secondPasses();
        const QString error = configuration.validate(true);
        QVERIFY2(error.contains(change.cause), qPrintable(error));
        QVERIFY2(error.contains(path), qPrintable(error));
        // Still reported a second later, not read again, not logged again.
        clock.secondPasses();
        QCOMPARE(configuration.validate(true), error);
        QCOMPARE(log.messages().size(), 1);
        QCOMPARE(log.messages()[0].first, QtCriticalMsg);
        QVERIFY2(log.messages()[0].second.startsWith(error), qPrintable(change.name));
        QVERIFY(log.messages()[0].second.contains("loaded before stay in use"));
    }
    log.messages().clear();
    replaceFile(path, other.certPem + other.keyPem);
    clock.secondPasses();
    QCOMPARE(configuration.validate(true), QString());
    QCOMPARE(log.messages().size(), 0);
}

void TestConfiguration::systemCaCertificatesSource()
{
    const QString source = ::systemCaCertificatesSource();
    QVERIFY(!source.isEmpty());
    QVERIFY2(source.contains('/') || source.contains("none found"), qPrintable(source));
    QCOMPARE(::systemCaCertificatesSource(), source);
}

QTEST_GUILESS_MAIN(TestConfiguration)
#include "tst_configuration.moc"
