// Building contexts: configuration errors that name the file and the cause, encrypted keys,
// the context cache, the default cipher list; and a server engine fed bytes that are not a valid
// TLS client. Each test function owns a fresh ContextCache.
#include "pkifixture.h"
#include "testsupport.h"

#include <QRegularExpression>
#include <QTest>

#include <openssl/err.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

using namespace enginetest;
using securesocket::engine::Context;
using securesocket::engine::VerifyMode;

namespace {

// The first flight of a client that speaks TLS 1.0 only, made with OpenSSL directly.
std::string tls10ClientHello()
{
    using CtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
    using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx.get(), TLS1_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0") != 1)
        return {};
    SslPtr ssl(SSL_new(ctx.get()), SSL_free);
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl.get(), in, out); // owned by ssl from here
    SSL_connect(ssl.get());          // writes the ClientHello, then wants to read
    std::string hello(BIO_ctrl_pending(out), '\0');
    const int got = BIO_read(out, hello.data(), static_cast<int>(hello.size()));
    hello.resize(got > 0 ? static_cast<size_t>(got) : 0);
    ERR_clear_error();
    return hello;
}

bool contains(const std::string &text, const std::string &fragment)
{
    return text.find(fragment) != std::string::npos;
}

// Offset of the first line of the second PEM block of text (its BEGIN line) and of the line
// after it (its first base64 line).
size_t secondBlock(const std::string &text)
{
    return text.find("-----BEGIN", text.find("-----END"));
}
size_t lineAfter(const std::string &text, size_t pos)
{
    return text.find('\n', pos) + 1;
}

// A defect applied to a valid two-block PEM text.
std::string damaged(const std::string &text, const QString &defect)
{
    const size_t second = secondBlock(text);
    const size_t body = lineAfter(text, second);
    std::string out = text;
    if (defect == "cut in the second block")
        return text.substr(0, lineAfter(text, lineAfter(text, body)) + 10);
    if (defect == "not base64")
        return out.replace(body + 5, 1, "*");
    if (defect == "not DER")
        return out.replace(body, 8, "AAAAAAAA");
    if (defect == "trailing garbage")
        return text + "garbage\n";
    if (defect == "binary")
        return std::string("\x30\x82\x03\x00\x02\x01\x00\x00\xff", 9);
    if (defect == "no PEM block")
        return "x\n";
    return text;
}

} // namespace

class TestContext : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void configurationErrors_data();
    void configurationErrors();
    void encryptedKeys_data();
    void encryptedKeys();
    void brokenPemIsRefused_data();
    void brokenPemIsRefused();
    void textAroundPemIsAccepted();
    void certificateWarnings_data();
    void certificateWarnings();
    void certificateWarningsFollowTheClock();

    void equalConfigsShareOneContext();
    void changedSettingGivesAnotherContext_data();
    void changedSettingGivesAnotherContext();
    void changedFileGivesAnotherContext();
    void fileReplacedByRenameGivesAnotherContext();
    void contextOutlivesCacheEntry();
    void systemCaSource();

    void defaultCipherList_data();
    void defaultCipherList();
    void userCipherListWins();

    void badInputToServer_data();
    void badInputToServer();
    void alteredRecordIsRejected_data();
    void alteredRecordIsRejected();

private:
    PkiDir m_dir;
    StandardPki m_pki;
    std::unique_ptr<ContextCache> m_cache;
};

void TestContext::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pki.create(m_dir);
}

void TestContext::init()
{
    m_cache = std::make_unique<ContextCache>();
}

void TestContext::cleanup()
{
    const std::string violation = takeViolation();
    QVERIFY2(violation.empty(), violation.c_str());
    QCOMPARE(ERR_peek_error(), 0UL);
}

// --- Configuration errors ------------------------------------------------------------------

void TestContext::configurationErrors_data()
{
    QTest::addColumn<QString>("scenario");
    QTest::addColumn<bool>("server");
    QTest::addColumn<QStringList>("fragments"); // all in the message; "%dir" is m_dir
    // clang-format off
    QTest::newRow("missing CA file") << "missing CA file" << false
        << QStringList{"CA file", "%dir/missing-ca.pem", "No such file"};
    QTest::newRow("CA file with no certificate") << "CA file with no certificate" << false
        << QStringList{"CA file", "%dir/no-cert.pem", "no PEM certificate"};
    QTest::newRow("CA file holding a key") << "CA file holding a key" << false
        << QStringList{"%dir/server.key", "no PEM certificate"};
    QTest::newRow("missing CA directory") << "missing CA directory" << false
        << QStringList{"CA directory", "%dir/no-such-dir", "does not exist"};
    QTest::newRow("missing CRL file") << "missing CRL file" << false
        << QStringList{"CRL file", "%dir/missing.crl"};
    QTest::newRow("CRL file with no CRL") << "CRL file with no CRL" << false
        << QStringList{"CRL file", "%dir/no-cert.pem", "no PEM CRL"};
    QTest::newRow("missing certificate file") << "missing certificate file" << true
        << QStringList{"certificate file", "%dir/missing-cert.pem", "No such file"};
    QTest::newRow("missing key file") << "missing key file" << true
        << QStringList{"private key file", "%dir/missing.key", "No such file"};
    QTest::newRow("key file with no key") << "key file with no key" << true
        << QStringList{"%dir/no-cert.pem", "no PEM private key"};
    QTest::newRow("key does not match") << "key does not match" << true
        << QStringList{"%dir/client.key", "does not match", "%dir/server-chain.pem"};
    QTest::newRow("certificate without key") << "certificate without key" << true
        << QStringList{"%dir/server-chain.pem", "no private key"};
    QTest::newRow("key without certificate") << "key without certificate" << false
        << QStringList{"%dir/client.key", "no certificate"};
    QTest::newRow("server without certificate") << "server without certificate" << true
        << QStringList{"server needs a certificate"};
    QTest::newRow("wrong passphrase") << "wrong passphrase" << true
        << QStringList{"wrong passphrase", "%dir/encrypted.key"};
    QTest::newRow("encrypted key, no passphrase") << "encrypted key, no passphrase" << true
        << QStringList{"no passphrase", "%dir/encrypted.key"};
    QTest::newRow("wrong passphrase in memory") << "wrong passphrase in memory" << true
        << QStringList{"wrong passphrase", "private key given in memory"};
    QTest::newRow("missing passphrase file") << "missing passphrase file" << true
        << QStringList{"passphrase file", "%dir/missing.pass"};
    QTest::newRow("empty passphrase file") << "empty passphrase file" << true
        << QStringList{"passphrase file", "%dir/empty.pass", "empty"};
    QTest::newRow("invalid cipher list") << "invalid cipher list" << false
        << QStringList{"TLS 1.2 cipher list", "'NO-SUCH-CIPHER'"};
    QTest::newRow("invalid cipher suites") << "invalid cipher suites" << false
        << QStringList{"TLS 1.3 cipher suites", "'TLS_NO_SUCH_SUITE'"};
    QTest::newRow("minimum above maximum") << "minimum above maximum" << false
        << QStringList{"minimum TLS version is above the maximum"};
    QTest::newRow("empty ALPN name") << "empty ALPN name" << false
        << QStringList{"ALPN protocol name"};
    // clang-format on
}

void TestContext::configurationErrors()
{
    QFETCH(QString, scenario);
    QFETCH(bool, server);
    QFETCH(QStringList, fragments);

    const std::string noCert = m_dir.write("no-cert.pem", "just some text\n");
    const std::string encrypted =
        m_dir.write("encrypted.key", testpki::encryptKey(m_pki.server.keyPem, "right"));
    const std::string emptyPass = m_dir.write("empty.pass", "\n");

    Config config = server ? m_pki.serverConfig() : m_pki.clientConfig();
    const std::map<QString, std::function<void()>> scenarios = {
        {"missing CA file", [&] { config.caFile = m_dir.path("missing-ca.pem"); }},
        {"CA file with no certificate", [&] { config.caFile = noCert; }},
        {"CA file holding a key", [&] { config.caFile = m_pki.serverKeyFile; }},
        {"missing CA directory", [&] { config.caDirectory = m_dir.path("no-such-dir"); }},
        {"missing CRL file", [&] { config.crlFile = m_dir.path("missing.crl"); }},
        {"CRL file with no CRL", [&] { config.crlFile = noCert; }},
        {"missing certificate file",
         [&] { config.certChainFile = m_dir.path("missing-cert.pem"); }},
        {"missing key file", [&] { config.keyFile = m_dir.path("missing.key"); }},
        {"key file with no key", [&] { config.keyFile = noCert; }},
        {"key does not match", [&] { config.keyFile = m_pki.clientKeyFile; }},
        {"certificate without key", [&] { config.keyFile.clear(); }},
        {"key without certificate", [&] { config.keyFile = m_pki.clientKeyFile; }},
        {"server without certificate", [&] { config.certChainFile = config.keyFile = ""; }},
        {"wrong passphrase",
         [&] {
             config.keyFile = encrypted;
             config.keyPassphrase = securesocket::engine::SecretString("wrong");
         }},
        {"encrypted key, no passphrase", [&] { config.keyFile = encrypted; }},
        {"wrong passphrase in memory",
         [&] {
             config.keyFile.clear();
             config.keyPem = testpki::encryptKey(m_pki.server.keyPem, "right");
             config.keyPassphrase = securesocket::engine::SecretString("wrong");
         }},
        {"missing passphrase file",
         [&] {
             config.keyFile = encrypted;
             config.keyPassphraseFile = m_dir.path("missing.pass");
         }},
        {"empty passphrase file",
         [&] {
             config.keyFile = encrypted;
             config.keyPassphraseFile = emptyPass;
         }},
        {"invalid cipher list", [&] { config.cipherList = "NO-SUCH-CIPHER"; }},
        {"invalid cipher suites", [&] { config.cipherSuites = "TLS_NO_SUCH_SUITE"; }},
        {"minimum above maximum",
         [&] {
             config.minVersion = TLS1_3_VERSION;
             config.maxVersion = TLS1_2_VERSION;
         }},
        {"empty ALPN name",
         [&] {
             config.alpn = {"h2", ""};
         }},
    };
    QVERIFY2(scenarios.count(scenario), qPrintable(scenario));
    scenarios.at(scenario)();

    std::string error;
    const auto context = m_cache->get(config, server ? Role::Server : Role::Client, &error);
    checkErrorQueue("ContextCache::get");
    QVERIFY2(!context, "the configuration must be refused");
    QVERIFY(!error.empty());
    const QString dir = QString::fromStdString(m_dir.path("")) + "/";
    for (QString fragment : fragments) {
        fragment.replace("%dir/", dir);
        QVERIFY2(contains(error, fragment.toStdString()),
                 qPrintable("'" + fragment + "' not in: " + QString::fromStdString(error)));
    }
    // A refused configuration is not cached: asking again gives the same answer.
    std::string again;
    QVERIFY(!m_cache->get(config, server ? Role::Server : Role::Client, &again));
    QCOMPARE(again, error);
}

void TestContext::encryptedKeys_data()
{
    QTest::addColumn<int>("keyType");
    QTest::addColumn<QString>("source"); // "string", "file" or "memory"
    const std::pair<const char *, testpki::KeyType> types[] = {
        {"RSA", testpki::KeyType::Rsa2048},
        {"ECDSA", testpki::KeyType::EcdsaP256},
        {"Ed25519", testpki::KeyType::Ed25519},
    };
    for (const auto &[name, type] : types) {
        for (const char *source : {"string", "file", "memory"})
            QTest::addRow("%s, passphrase %s", name, source) << int(type) << QString(source);
    }
}

void TestContext::encryptedKeys()
{
    QFETCH(int, keyType);
    QFETCH(QString, source);
    testpki::CertSpec spec;
    spec.commonName = "localhost";
    spec.dnsNames = {"localhost"};
    spec.keyType = testpki::KeyType(keyType);
    const testpki::Issued server = testpki::makeCertificate(spec, &m_pki.intermediate);
    const std::string prefix = "enc-" + std::to_string(keyType) + "-" + source.toStdString();
    const std::string passphrase = "correct horse battery staple";

    Config config = m_pki.serverConfig();
    config.certChainFile =
        m_dir.write(prefix + ".pem", server.certPem + m_pki.intermediate.certPem);
    const std::string encrypted = testpki::encryptKey(server.keyPem, passphrase);
    QVERIFY(contains(encrypted, "ENCRYPTED PRIVATE KEY"));
    config.keyFile = m_dir.write(prefix + ".key", encrypted);
    if (source == "string") {
        config.keyPassphrase = securesocket::engine::SecretString(passphrase);
    } else if (source == "file") {
        config.keyPassphraseFile = m_dir.write(prefix + ".pass", passphrase + "\n");
    } else {
        config.keyFile.clear();
        config.keyPem = encrypted;
        config.keyPassphrase = securesocket::engine::SecretString(passphrase);
    }

    // And the key really works: a client completes a handshake with it, in both versions.
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        EnginePair pair(withVersion(m_pki.clientConfig(), version), withVersion(config, version),
                        "localhost", {}, *m_cache);
        QVERIFY2(pair.isValid(), pair.setupError().c_str());
        QVERIFY2(pair.handshake(), state(pair).c_str());
        QCOMPARE(pair.client->peerCertificateChainPem().front(), server.certPem);
    }
}

// --- The context cache ---------------------------------------------------------------------

// --- PEM strictness and certificate warnings -------------------------------------------------

void TestContext::brokenPemIsRefused_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("defect");
    QTest::addColumn<QStringList>("fragments"); // all in the message; "%dir" is m_dir
    const QStringList targets = {
        "certificate file",      "CA file",      "CRL file",     "private key file",
        "certificate in memory", "CA in memory", "key in memory"};
    const QStringList names = {"'%dir/broken.pem'",
                               "'%dir/broken.pem'",
                               "'%dir/broken.pem'",
                               "'%dir/broken.pem'",
                               "the certificate given in memory",
                               "the CA certificates given in memory",
                               "the private key given in memory"};
    // The second block of each target's text: what a message about it calls it.
    const QStringList seconds = {
        "certificate 2, line", "certificate 2, line", "CRL 2, line",        "private key 1, line",
        "certificate 2, line", "certificate 2, line", "private key 1, line"};
    const QStringList kinds = {"certificate", "certificate", "CRL",        "private key",
                               "certificate", "certificate", "private key"};
    const QStringList none = {"no PEM certificate", "no PEM certificate", "no PEM CRL",
                              "no PEM private key", "no PEM certificate", "no PEM certificate",
                              "no PEM private key"};
    for (int i = 0; i < targets.size(); ++i) {
        const QString &t = targets[i];
        const auto row = [&](const QString &defect, const QStringList &fragments) {
            QTest::addRow("%s, %s", qPrintable(t), qPrintable(defect))
                << t << defect << (QStringList{names[i]} + fragments);
        };
        row("cut in the second block", {seconds[i], "no END line (the text is cut short)"});
        row("not base64", {seconds[i], "not base64"});
        row("not DER", {seconds[i], "not a valid " + kinds[i]});
        row("trailing garbage", {"text after the last PEM block"});
        row("binary", {"line 1: binary data (not a PEM text)"});
        row("no PEM block", {none[i]});
    }
}

void TestContext::brokenPemIsRefused()
{
    // Each target holds two blocks: the defect is in the second one (for the key file, a
    // combined file, that is the key: certificates there are not read).
    QFETCH(QString, target);
    QFETCH(QString, defect);
    QFETCH(QStringList, fragments);

    const std::string chain = m_pki.server.certPem + m_pki.intermediate.certPem;
    const std::string cas = m_pki.root.certPem + m_pki.intermediate.certPem;
    const std::string crls =
        testpki::makeCrl(m_pki.root, {}) + testpki::makeCrl(m_pki.intermediate, {});
    const std::string combinedKey = m_pki.server.certPem + m_pki.server.keyPem;
    const std::string file = m_dir.path("broken.pem");

    const bool server = target == "certificate file" || target == "private key file" ||
                        target == "certificate in memory" || target == "key in memory";
    Config config = server ? m_pki.serverConfig() : m_pki.clientConfig();
    if (target == "certificate file")
        config.certChainFile = m_dir.write("broken.pem", damaged(chain, defect));
    else if (target == "CA file")
        config.caFile = m_dir.write("broken.pem", damaged(cas, defect));
    else if (target == "CRL file")
        config.crlFile = m_dir.write("broken.pem", damaged(crls, defect));
    else if (target == "private key file")
        config.keyFile = m_dir.write("broken.pem", damaged(combinedKey, defect));
    else if (target == "certificate in memory")
        config.certChainFile.clear(), config.certChainPem = damaged(chain, defect);
    else if (target == "CA in memory")
        config.caPem = damaged(cas, defect);
    else if (target == "key in memory")
        config.keyFile.clear(), config.keyPem = damaged(combinedKey, defect);
    Q_UNUSED(file);

    std::string error;
    const auto context = m_cache->get(config, server ? Role::Server : Role::Client, &error);
    checkErrorQueue("ContextCache::get");
    QVERIFY2(!context, "the configuration must be refused");
    const QString dir = QString::fromStdString(m_dir.path("")) + "/";
    for (QString fragment : fragments) {
        fragment.replace("%dir/", dir);
        QVERIFY2(contains(error, fragment.toStdString()),
                 qPrintable("'" + fragment + "' not in: " + QString::fromStdString(error)));
    }
}

void TestContext::textAroundPemIsAccepted()
{
    // What `openssl x509`, `s_client -showcerts` and CA bundles write before their blocks,
    // a key in the certificate file and the certificate in the key file (combined PEM files).
    const std::string combined = "subject=CN = localhost\nissuer=CN = Intermediate\n" +
                                 m_pki.server.certPem + "# the intermediate\n" +
                                 m_pki.intermediate.certPem + m_pki.server.keyPem + "\n\n";
    Config config = m_pki.serverConfig();
    config.certChainFile = config.keyFile = m_dir.write("combined.pem", combined);
    std::string error;
    QVERIFY2(m_cache->get(config, Role::Server, &error), error.c_str());

    Config client = m_pki.clientConfig();
    client.caFile = m_dir.write("bundle.pem", "# Root\n" + m_pki.root.certPem + "\n# Other\n" +
                                                  m_pki.otherRoot.certPem);
    client.crlFile = m_dir.write("crl.pem", "Certificate Revocation List (CRL):\n" +
                                                testpki::makeCrl(m_pki.root, {}));
    QVERIFY2(m_cache->get(client, Role::Client, &error), error.c_str());
    checkErrorQueue("ContextCache::get");
}

void TestContext::certificateWarnings_data()
{
    QTest::addColumn<long>("notBefore"); // seconds from now
    QTest::addColumn<long>("notAfter");
    QTest::addColumn<QStringList>("extendedKeyUsage");
    QTest::addColumn<QStringList>("keyUsage");
    QTest::addColumn<bool>("server");
    QTest::addColumn<bool>("staticRsaOnly"); // TLS 1.2 only, with static RSA key exchange only
    QTest::addColumn<QString>("warning");    // a regular expression; empty: no warning
    const long day = 24L * 3600;
    const QString who = "^certificate file '.*/warned.pem' \\('CN=warned'\\)";
    const QString date = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC$";
    // clang-format off
    QTest::newRow("fresh") << -day << 30 * day << QStringList() << QStringList() << true << false
        << QString();
    QTest::newRow("15 days left") << -day << 15 * day << QStringList() << QStringList() << true << false
        << QString();
    QTest::newRow("expired") << -30 * day << -day << QStringList() << QStringList() << true << false
        << who + " expired on " + date;
    QTest::newRow("not valid yet") << day << 30 * day << QStringList() << QStringList() << true << false
        << who + " is not valid until " + date;
    QTest::newRow("3 days left") << -day << 3 * day + 3600 << QStringList() << QStringList()
        << true << false << who + " expires in 3 days, on " + date;
    QTest::newRow("1 day left, client") << -day << day + 3600 << QStringList() << QStringList()
        << false << false << who + " expires in 1 day, on " + date;
    QTest::newRow("an hour left") << -day << 3600L << QStringList() << QStringList() << true << false
        << who + " expires in less than a day, on " + date;
    QTest::newRow("clientAuth only, server") << -day << 30 * day << QStringList{"clientAuth"}
        << QStringList() << true << false
        << who + ": extended key usage does not allow a TLS server \\(no serverAuth\\)$";
    QTest::newRow("serverAuth only, client") << -day << 30 * day << QStringList{"serverAuth"}
        << QStringList() << false << false
        << who + ": extended key usage does not allow a TLS client \\(no clientAuth\\)$";
    QTest::newRow("serverAuth only, server") << -day << 30 * day << QStringList{"serverAuth"}
        << QStringList() << true << false << QString();
    QTest::newRow("keyAgreement only, server") << -day << 30 * day << QStringList()
        << QStringList{"keyAgreement"} << true << false
        << who + ": key usage does not allow a TLS server with these settings \\(no "
                 "digitalSignature, which TLS 1.3 and ECDHE key exchange need\\)$";
    QTest::newRow("keyEncipherment only, server") << -day << 30 * day << QStringList()
        << QStringList{"keyEncipherment"} << true << false
        << who + ": key usage does not allow a TLS server with these settings \\(no "
                 "digitalSignature, which TLS 1.3 and ECDHE key exchange need\\)$";
    QTest::newRow("keyEncipherment only, static RSA server") << -day << 30 * day
        << QStringList() << QStringList{"keyEncipherment"} << true << true << QString();
    QTest::newRow("digitalSignature only, static RSA server") << -day << 30 * day
        << QStringList() << QStringList{"digitalSignature"} << true << true
        << who + ": key usage does not allow a TLS server with these settings \\(no "
                 "keyEncipherment, which static RSA key exchange needs\\)$";
    // clang-format on
}

void TestContext::certificateWarnings()
{
    QFETCH(long, notBefore);
    QFETCH(long, notAfter);
    QFETCH(QStringList, extendedKeyUsage);
    QFETCH(QStringList, keyUsage);
    QFETCH(bool, server);
    QFETCH(bool, staticRsaOnly);
    QFETCH(QString, warning);

    testpki::CertSpec spec;
    spec.commonName = "warned";
    spec.notBeforeOffset = notBefore;
    spec.notAfterOffset = notAfter;
    for (const QString &usage : extendedKeyUsage)
        spec.extendedKeyUsage.push_back(usage.toStdString());
    for (const QString &usage : keyUsage)
        spec.keyUsage.push_back(usage.toStdString());
    const testpki::Issued issued = testpki::makeCertificate(spec, &m_pki.intermediate);
    Config config = server ? m_pki.serverConfig() : m_pki.clientConfig();
    config.certChainFile = m_dir.write("warned.pem", issued.certPem);
    config.keyFile = m_dir.write("warned.key", issued.keyPem);
    if (staticRsaOnly) {
        config.maxVersion = TLS1_2_VERSION;
        config.cipherList = "AES128-GCM-SHA256";
    }

    std::string error;
    const auto context = m_cache->get(config, server ? Role::Server : Role::Client, &error);
    checkErrorQueue("ContextCache::get");
    QVERIFY2(context, error.c_str()); // a warning never stops the certificate's use
    QStringList warnings;
    for (const std::string &text : context->warnings(std::time(nullptr)))
        warnings << QString::fromStdString(text);
    if (warning.isEmpty()) {
        QCOMPARE(warnings, QStringList());
        return;
    }
    QCOMPARE(warnings.size(), 1);
    QVERIFY2(QRegularExpression(warning).match(warnings[0]).hasMatch(), qPrintable(warnings[0]));

    // The same certificate given in memory is named so.
    config.certChainFile.clear();
    config.certChainPem = issued.certPem;
    const auto inMemory = m_cache->get(config, server ? Role::Server : Role::Client, &error);
    QVERIFY2(inMemory, error.c_str());
    const std::vector<std::string> inMemoryWarnings = inMemory->warnings(std::time(nullptr));
    QCOMPARE(inMemoryWarnings.size(), size_t(1));
    QVERIFY(inMemoryWarnings[0].rfind("the certificate given in memory ('CN=warned')", 0) == 0);
}

// A context lives as long as its files do not change: what depends on the date is looked at
// again when asked, and each new sentence is given to the log once.
void TestContext::certificateWarningsFollowTheClock()
{
    constexpr long kDay = 24L * 3600;
    testpki::CertSpec spec;
    spec.commonName = "aging";
    spec.notBeforeOffset = -kDay;
    spec.notAfterOffset = 30 * kDay;
    const testpki::Issued issued = testpki::makeCertificate(spec, &m_pki.intermediate);
    Config config = m_pki.serverConfig();
    config.certChainFile.clear();
    config.keyFile.clear();
    config.certChainPem = issued.certPem;
    config.keyPem = issued.keyPem;
    std::string error;
    const auto context = m_cache->get(config, Role::Server, &error);
    QVERIFY2(context, error.c_str());
    const std::time_t now = std::time(nullptr);
    QVERIFY(context->warnings(now).empty());
    QVERIFY(context->warningsToLog(now).empty());

    const auto at = [&](long offset) {
        std::vector<std::string> log = context->warningsToLog(now + offset);
        return log.size() == 1 ? QString::fromStdString(log[0]) : QString::number(log.size());
    };
    // The certificate ends a little less than 30 days from now.
    const QString tenDays = at(19 * kDay + kDay / 2);
    QVERIFY2(tenDays.contains(" expires in 10 days, on "), qPrintable(tenDays));
    QCOMPARE(at(19 * kDay + kDay / 2), QStringLiteral("0")); // said once
    const QString fiveDays = at(24 * kDay + kDay / 2);
    QVERIFY2(fiveDays.contains(" expires in 5 days, on "), qPrintable(fiveDays));
    const QString expired = at(31 * kDay);
    QVERIFY2(expired.contains(" expired on "), qPrintable(expired));
    QCOMPARE(context->warnings(now + 31 * kDay).size(), size_t(1));
    QVERIFY(context->warnings(now).empty());
}

void TestContext::equalConfigsShareOneContext()
{
    std::string error;
    const auto first = m_cache->get(m_pki.serverConfig(), Role::Server, &error);
    QVERIFY2(first, error.c_str());
    const auto second = m_cache->get(m_pki.serverConfig(), Role::Server, &error);
    QCOMPARE(second.get(), first.get());

    const auto client = m_cache->get(m_pki.clientConfig(), Role::Client, &error);
    QVERIFY2(client, error.c_str());
    QCOMPARE(m_cache->get(m_pki.clientConfig(), Role::Client, &error).get(), client.get());
    QCOMPARE(client->role(), Role::Client);
    QCOMPARE(first->role(), Role::Server);

    // The same settings in the other role are another context.
    Config both = m_pki.serverConfig();
    const auto asClient = m_cache->get(both, Role::Client, &error);
    QVERIFY2(asClient, error.c_str());
    QVERIFY(asClient.get() != first.get());
}

void TestContext::changedSettingGivesAnotherContext_data()
{
    QTest::addColumn<QString>("setting");
    QTest::addColumn<bool>("server");
    for (const char *setting :
         {"caFile", "caPem", "useSystemCas", "crlFile", "certificate", "verifyMode", "minVersion",
          "maxVersion", "cipherList", "cipherSuites", "alpn", "alpn order", "alpn cut",
          "sessionResumption"})
        QTest::newRow(setting) << QString(setting) << false;
    for (const char *setting :
         {"keyFile", "keyPassphrase", "ticketKeyLifetime", "sessionTicketCount"})
        QTest::newRow(setting) << QString(setting) << true;
}

void TestContext::changedSettingGivesAnotherContext()
{
    QFETCH(QString, setting);
    QFETCH(bool, server);
    const std::string encrypted =
        m_dir.write("encrypted-2.key", testpki::encryptKey(m_pki.server.keyPem, "pass"));
    const std::string crl = m_dir.write("empty.crl", testpki::makeCrl(m_pki.root, {}));
    Config base = server ? m_pki.serverConfig() : m_pki.clientConfig();
    base.alpn = {"a", "bc"};
    if (server) {
        base.keyFile = encrypted;
        base.keyPassphrase = securesocket::engine::SecretString("pass");
    }
    const std::map<QString, std::function<void(Config &)>> changes = {
        {"caFile", [&](Config &c) { c.caFile = m_pki.serverChainFile; }},
        {"caPem", [&](Config &c) { c.caPem = m_pki.otherRoot.certPem; }},
        {"useSystemCas", [](Config &c) { c.useSystemCas = true; }},
        {"crlFile", [&](Config &c) { c.crlFile = crl; }},
        {"certificate",
         [&](Config &c) {
             c.certChainFile = m_pki.clientChainFile;
             c.keyFile = m_pki.clientKeyFile;
         }},
        {"keyFile",
         [&](Config &c) {
             c.keyFile = m_pki.serverKeyFile;
             c.keyPassphrase = {};
         }},
        {"keyPassphrase",
         [&](Config &c) {
             c.keyPassphrase = {};
             c.keyPassphraseFile = m_dir.write("pass.txt", "pass\n");
         }},
        {"verifyMode", [](Config &c) { c.verifyMode = VerifyMode::Query; }},
        {"minVersion", [](Config &c) { c.minVersion = TLS1_3_VERSION; }},
        {"maxVersion", [](Config &c) { c.maxVersion = TLS1_2_VERSION; }},
        {"cipherList", [](Config &c) { c.cipherList = "ECDHE-ECDSA-AES128-GCM-SHA256"; }},
        {"cipherSuites", [](Config &c) { c.cipherSuites = "TLS_AES_128_GCM_SHA256"; }},
        {"alpn", [](Config &c) { c.alpn = {"h2"}; }},
        {"alpn order",
         [](Config &c) {
             c.alpn = {"bc", "a"};
         }},
        // Lists that differ only in how the names are cut are different lists.
        {"alpn cut",
         [](Config &c) {
             c.alpn = {"ab", "c"};
         }},
        {"sessionResumption", [](Config &c) { c.sessionResumption = !c.sessionResumption; }},
        {"ticketKeyLifetime", [](Config &c) { c.ticketKeyLifetime = 60; }},
        {"sessionTicketCount", [](Config &c) { c.sessionTicketCount = 0; }},
    };
    QVERIFY2(changes.count(setting), qPrintable(setting));
    Config changed = base;
    changes.at(setting)(changed);

    const Role role = server ? Role::Server : Role::Client;
    std::string error;
    const auto before = m_cache->get(base, role, &error);
    QVERIFY2(before, error.c_str());
    const auto after = m_cache->get(changed, role, &error);
    QVERIFY2(after, error.c_str());
    QVERIFY2(after.get() != before.get(), "the changed setting gave the same context");
    QCOMPARE(m_cache->get(changed, role, &error).get(), after.get());
}

void TestContext::changedFileGivesAnotherContext()
{
    namespace fs = std::filesystem;
    Config config = m_pki.serverConfig();
    config.certChainFile = m_dir.write("rotating.pem", m_pki.server.certPem);
    config.keyFile = m_dir.write("rotating.key", m_pki.server.keyPem);
    std::string error;
    const auto first = m_cache->get(config, Role::Server, &error);
    QVERIFY2(first, error.c_str());
    QCOMPARE(m_cache->get(config, Role::Server, &error).get(), first.get());

    // Touched: same content, a new modification time.
    const auto mtime = fs::last_write_time(config.certChainFile);
    fs::last_write_time(config.certChainFile, mtime + std::chrono::seconds(2));
    const auto touched = m_cache->get(config, Role::Server, &error);
    QVERIFY2(touched, error.c_str());
    QVERIFY(touched.get() != first.get());

    // Rewritten with a new certificate: the next connections present it.
    testpki::CertSpec spec;
    spec.commonName = "localhost";
    spec.dnsNames = {"localhost", "renewed.example"};
    const testpki::Issued renewed = testpki::makeCertificate(spec, &m_pki.intermediate);
    testpki::writeFile(config.certChainFile, renewed.certPem + m_pki.intermediate.certPem);
    testpki::writeFile(config.keyFile, renewed.keyPem);
    fs::last_write_time(config.certChainFile, mtime + std::chrono::seconds(4));
    fs::last_write_time(config.keyFile, mtime + std::chrono::seconds(4));
    const auto rewritten = m_cache->get(config, Role::Server, &error);
    QVERIFY2(rewritten, error.c_str());
    QVERIFY(rewritten.get() != touched.get());

    EnginePair pair(m_pki.clientConfig(), config, "localhost", {}, *m_cache);
    QVERIFY2(pair.handshake(), state(pair).c_str());
    QCOMPARE(pair.client->peerCertificateChainPem().front(), renewed.certPem);

    // The CA file of a client is watched the same way.
    Config client = m_pki.clientConfig();
    client.caFile = m_dir.write("rotating-ca.pem", m_pki.root.certPem);
    const auto before = m_cache->get(client, Role::Client, &error);
    QVERIFY2(before, error.c_str());
    testpki::writeFile(client.caFile, m_pki.root.certPem + m_pki.otherRoot.certPem);
    QVERIFY(m_cache->get(client, Role::Client, &error).get() != before.get());
}

void TestContext::fileReplacedByRenameGivesAnotherContext()
{
    // A new file of the same size and modification time moved over the old one (as a
    // deployment tool may do with `cp -p` and `mv`) is still a new file.
    namespace fs = std::filesystem;
    Config client = m_pki.clientConfig();
    client.caFile = m_dir.write("renamed-ca.pem", m_pki.root.certPem);
    std::string error;
    const auto before = m_cache->get(client, Role::Client, &error);
    QVERIFY2(before, error.c_str());
    const std::string replacement = m_dir.write("replacement-ca.pem", m_pki.root.certPem);
    fs::last_write_time(replacement, fs::last_write_time(client.caFile));
    QCOMPARE(fs::file_size(replacement), fs::file_size(client.caFile));
    fs::rename(replacement, client.caFile);
    const auto after = m_cache->get(client, Role::Client, &error);
    QVERIFY2(after, error.c_str());
    QVERIFY(after.get() != before.get());
    QCOMPARE(m_cache->get(client, Role::Client, &error).get(), after.get());
}

void TestContext::contextOutlivesCacheEntry()
{
    // A connection keeps its context even when the cache has long forgotten it.
    ContextCache cache(2);
    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig(), "localhost", {}, cache);
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    const Context *client = &pair.client->context();
    QCOMPARE(cache.size(), size_t(2));
    std::string error;
    for (const char *protocol : {"a", "b"}) { // as many as the cache holds
        Config other = m_pki.clientConfig();
        other.alpn = {protocol};
        QVERIFY2(cache.get(other, Role::Client, &error), error.c_str());
    }
    QCOMPARE(cache.size(), size_t(2));
    QVERIFY(cache.get(m_pki.clientConfig(), Role::Client, &error).get() != client); // forgotten
    QVERIFY2(pair.handshake(), state(pair).c_str());
}

void TestContext::systemCaSource()
{
    const std::string source = securesocket::engine::systemCaSource();
    QVERIFY(!source.empty());
    QCOMPARE(securesocket::engine::systemCaSource(), source);
    // Either what was loaded, with its path, or an explicit "none found".
    const bool named = contains(source, "file /") || contains(source, "directory /");
    QVERIFY2(named || contains(source, "none found"), source.c_str());
    if (std::filesystem::exists("/etc/ssl/certs/ca-certificates.crt"))
        QVERIFY2(named && contains(source, "certificates"), source.c_str());

    // A client using only the system CAs gets a context.
    Config config;
    std::string error;
    QVERIFY2(m_cache->get(config, Role::Client, &error), error.c_str());
}

// --- Cipher defaults -----------------------------------------------------------------------

namespace {

// The TLS 1.2 suites of a context in its order, and its TLS 1.3 suites, by OpenSSL's names.
void cipherNames(const Context &context, QStringList &tls12, QStringList &tls13)
{
    const STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(context.native());
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        const SSL_CIPHER *cipher = sk_SSL_CIPHER_value(ciphers, i);
        const QString name = QString::fromLatin1(SSL_CIPHER_get_name(cipher));
        (SSL_CIPHER_get_kx_nid(cipher) == NID_kx_any ? tls13 : tls12).append(name);
    }
}

} // namespace

void TestContext::defaultCipherList_data()
{
    QTest::addColumn<bool>("server");
    QTest::newRow("client") << false;
    QTest::newRow("server") << true;
}

// No CBC suite (Lucky13), none without forward secrecy; TLS 1.3 left as OpenSSL has it. A server
// chooses by its own order.
void TestContext::defaultCipherList()
{
    QFETCH(bool, server);
    std::string error;
    const auto context = server ? m_cache->get(m_pki.serverConfig(), Role::Server, &error)
                                : m_cache->get(m_pki.clientConfig(), Role::Client, &error);
    QVERIFY2(context, error.c_str());

    const STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(context->native());
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        const SSL_CIPHER *cipher = sk_SSL_CIPHER_value(ciphers, i);
        const int kx = SSL_CIPHER_get_kx_nid(cipher);
        QVERIFY2(SSL_CIPHER_is_aead(cipher), SSL_CIPHER_get_name(cipher));
        QVERIFY2(kx == NID_kx_ecdhe || kx == NID_kx_any, SSL_CIPHER_get_name(cipher));
    }
    QStringList tls12, tls13;
    cipherNames(*context, tls12, tls13);
    QCOMPARE(tls12, (QStringList{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                                 "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                                 "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"}));
    QCOMPARE(tls13, (QStringList{"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                                 "TLS_AES_128_GCM_SHA256"}));
    const bool serverOrder =
        SSL_CTX_get_options(context->native()) & SSL_OP_CIPHER_SERVER_PREFERENCE;
    QCOMPARE(serverOrder, server);
}

// Whoever sets a list gets exactly it, even one the default leaves out.
void TestContext::userCipherListWins()
{
    Config config = m_pki.serverConfig();
    config.cipherList = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-GCM-SHA384";
    std::string error;
    const auto context = m_cache->get(config, Role::Server, &error);
    QVERIFY2(context, error.c_str());
    QStringList tls12, tls13;
    cipherNames(*context, tls12, tls13);
    QCOMPARE(tls12, (QStringList{"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-GCM-SHA384"}));
    QVERIFY(SSL_CTX_get_options(context->native()) & SSL_OP_CIPHER_SERVER_PREFERENCE);
}

// --- Bad input -----------------------------------------------------------------------------

void TestContext::badInputToServer_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("eof");
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("fragment");

    const std::string random = patternData(1000, 42);
    QTest::newRow("random bytes") << QByteArray(random.data(), int(random.size())) << false
                                  << int(Error::Protocol) << "not valid TLS";
    QTest::newRow("plain HTTP") << QByteArray("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") << false
                                << int(Error::Protocol) << "plain HTTP";
    QTest::newRow("HTTP proxy request") << QByteArray("CONNECT example.com:443 HTTP/1.1\r\n\r\n")
                                        << false << int(Error::Protocol) << "HTTP";
    QTest::newRow("oversized record")
        << QByteArray("\x16\x03\x01\x48\x01", 5) + QByteArray(64, '\x01') << false
        << int(Error::Protocol) << "size";
    QTest::newRow("largest length")
        << QByteArray("\x16\x03\x01\xff\xff", 5) << false << int(Error::Protocol) << "size";
    QTest::newRow("application data first")
        << QByteArray("\x17\x03\x03\x00\x05hello", 10) << false << int(Error::Protocol) << "TLS";
    // OpenSSL takes only a handshake record as a first record: an alert is unexpected.
    QTest::newRow("fatal alert first") << QByteArray("\x15\x03\x01\x00\x02\x02\x28", 7) << false
                                       << int(Error::Protocol) << "not valid TLS";
    QTest::newRow("truncated record, then EOF")
        << QByteArray("\x16\x03\x01\x01\x00\x01\x00\x00\xfc\x03\x03", 11) << true
        << int(Error::Truncated) << "closed";
    QTest::newRow("nothing, then EOF") << QByteArray() << true << int(Error::Truncated) << "closed";
    const std::string hello = tls10ClientHello();
    QTest::newRow("TLS 1.0 ClientHello") << QByteArray(hello.data(), int(hello.size())) << false
                                         << int(Error::Incompatible) << "older than TLS 1.2";
}

void TestContext::badInputToServer()
{
    QFETCH(QByteArray, input);
    QFETCH(bool, eof);
    QFETCH(int, kind);
    QFETCH(QString, fragment);

    EnginePair pair(m_pki.clientConfig(), m_pki.serverConfig(), "localhost", {}, *m_cache);
    QVERIFY2(pair.isValid(), pair.setupError().c_str());
    Side &server = pair.server;
    server->feed(input.constData(), size_t(input.size()));
    if (eof)
        server->feedEof();
    server->process();
    pair.drain(server);

    QCOMPARE(server.phase(), Phase::Failed);
    QCOMPARE(server->error().kind, Error::Kind(kind));
    QVERIFY2(contains(server->error().message, fragment.toStdString()),
             server->error().message.c_str());
    QVERIFY(server.received.empty());
    QCOMPARE(server.eventCount(Event::Failed), 1);
    QCOMPARE(server.eventCount(Event::HandshakeDone), 0);
}

void TestContext::alteredRecordIsRejected_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<int>("offset"); // in the altered record; negative from its end
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        const char *v = version == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3";
        QTest::addRow("%s, first byte after the header", v) << version << 5;
        QTest::addRow("%s, middle", v) << version << 20;
        QTest::addRow("%s, last byte (tag)", v) << version << -1;
    }
}

void TestContext::alteredRecordIsRejected()
{
    QFETCH(int, version);
    QFETCH(int, offset);
    EnginePair pair(withVersion(m_pki.clientConfig(), version),
                    withVersion(m_pki.serverConfig(), version), "localhost", {}, *m_cache);
    QVERIFY2(pair.handshake(), state(pair).c_str());

    pair.client->write("intact", 6);
    const std::string intact = pair.client->takeOutput();
    pair.client->write("this record is altered in transit", 33);
    std::string altered = pair.client->takeOutput();
    QVERIFY(altered.size() > 40);
    const size_t at = offset >= 0 ? size_t(offset) : altered.size() - size_t(-offset);
    altered[at] = static_cast<char>(altered[at] ^ 0x04);
    pair.deliver(pair.server, intact + altered);

    QCOMPARE(pair.server.received, std::string("intact"));
    QCOMPARE(pair.server.phase(), Phase::Failed);
    QCOMPARE(pair.server->error().kind, Error::Protocol);
    QVERIFY2(contains(pair.server->error().message, "integrity"),
             pair.server->error().message.c_str());
    QVERIFY2(pair.server.firstAlert(Event::AlertSent), state(pair).c_str());
    pair.run();
    QCOMPARE(pair.client->error().kind, Error::AlertReceived);
}

QTEST_GUILESS_MAIN(TestContext)
#include "tst_context.moc"
