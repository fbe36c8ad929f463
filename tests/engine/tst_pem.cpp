// pem::scan: every well-formed PEM text is split into its blocks; every broken one is refused
// with the block (or line) and the problem named.
#include "pem.h"
#include "testpki.h"

#include <QTest>

namespace pem = securesocket::engine::pem;

namespace {

std::string cutAfterLines(const std::string &text, int lines)
{
    size_t pos = 0;
    for (int i = 0; i < lines; ++i)
        pos = text.find('\n', pos) + 1;
    return text.substr(0, pos);
}

} // namespace

class TestPem : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void accepted_data();
    void accepted();
    void refused_data();
    void refused();
    void decodesTheDer();
    void legacyEncryptedKeyHeaders();

private:
    std::string m_cert;  // one certificate, PEM
    std::string m_cert2; // another one
    std::string m_key;   // a PKCS#8 key, PEM
};

void TestPem::initTestCase()
{
    testpki::CertSpec spec;
    spec.commonName = "pem test";
    const testpki::Issued issued = testpki::makeCertificate(spec);
    m_cert = issued.certPem;
    m_key = issued.keyPem;
    spec.commonName = "pem test 2";
    m_cert2 = testpki::makeCertificate(spec).certPem;
    QVERIFY(m_cert.find("-----BEGIN CERTIFICATE-----\n") == 0);
}

void TestPem::accepted_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QStringList>("labels");
    const QByteArray cert = QByteArray::fromStdString(m_cert);
    const QByteArray cert2 = QByteArray::fromStdString(m_cert2);
    const QByteArray key = QByteArray::fromStdString(m_key);
    QByteArray crlf = cert;
    crlf.replace("\n", "\r\n");
    // clang-format off
    QTest::newRow("one certificate") << cert << QStringList{"CERTIFICATE"};
    QTest::newRow("a chain") << cert + cert2 << QStringList{"CERTIFICATE", "CERTIFICATE"};
    QTest::newRow("CRLF line ends") << crlf + crlf << QStringList{"CERTIFICATE", "CERTIFICATE"};
    QTest::newRow("no final line break") << cert + cert2.chopped(1)
        << QStringList{"CERTIFICATE", "CERTIFICATE"};
    QTest::newRow("trailing blank lines") << cert + "\n  \n\t\n" << QStringList{"CERTIFICATE"};
    QTest::newRow("text before the blocks, as openssl x509 -text writes it")
        << "subject=CN = pem test\nissuer=CN = pem test\n" + cert + "# comment\n" + cert2
        << QStringList{"CERTIFICATE", "CERTIFICATE"};
    QTest::newRow("combined key and certificate") << key + cert
        << QStringList{"PRIVATE KEY", "CERTIFICATE"};
    QTest::newRow("EC parameters before a key")
        << "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + key
        << QStringList{"EC PARAMETERS", "PRIVATE KEY"};
    QTest::newRow("UTF-8 in the text before") << "Subject: CN=Bücher GmbH\n" + cert
        << QStringList{"CERTIFICATE"};
    QTest::newRow("empty text") << QByteArray() << QStringList{};
    QTest::newRow("text with no block") << QByteArray("just some text\n") << QStringList{};
    QTest::newRow("x") << QByteArray("x\n") << QStringList{};
    // clang-format on
}

void TestPem::accepted()
{
    QFETCH(QByteArray, text);
    QFETCH(QStringList, labels);
    const pem::ScanResult result = pem::scan(text.toStdString());
    QVERIFY2(result.error.empty(), result.error.c_str());
    QStringList found;
    for (const pem::Block &block : result.blocks)
        found << QString::fromStdString(block.label);
    QCOMPARE(found, labels);
}

void TestPem::refused_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("error"); // exactly
    const QByteArray cert = QByteArray::fromStdString(m_cert);
    const QByteArray cert2 = QByteArray::fromStdString(m_cert2);
    const int certLines = static_cast<int>(cert.count('\n'));
    const int certLines2 = static_cast<int>(cert2.count('\n'));
    const QByteArray cut = QByteArray::fromStdString(cutAfterLines(m_cert2, 5));
    QByteArray badBase64 = cert2;
    badBase64[cert2.indexOf('\n') + 3] = '*';
    const int body = static_cast<int>(cert2.indexOf('\n')) + 1;
    QByteArray binary("\x30\x82\x01\x0a\x02\x82\x01\x01\x00", 9);
    const QString second = QString("certificate 2, line %1").arg(certLines + 1);
    // clang-format off
    QTest::newRow("second certificate cut short") << cert + cut
        << second + ": no END line (the text is cut short)";
    QTest::newRow("cut in the middle of a line") << cert + cut.chopped(10)
        << second + ": no END line (the text is cut short)";
    QTest::newRow("cut short, then another certificate") << cert + cut + cert
        << second + QString(": no END line before the next BEGIN line, at line %1 (the block "
                            "is cut short)").arg(certLines + 6);
    QTest::newRow("bad base64") << cert + badBase64
        << second + QString(": line %1: not base64").arg(certLines + 2);
    QTest::newRow("base64 cut by a line") << cert + cert2.left(body + 10) + "\n" +
                                               cert2.mid(cert2.indexOf("-----END"))
        << second + ": the base64 data is empty or cut short";
    QTest::newRow("wrong END label") << cert + QByteArray(cert2).replace("END CERTIFICATE",
                                                                        "END X509 CRL")
        << second + QString(": line %1: '-----END X509 CRL-----' does not end a 'CERTIFICATE' "
                            "block").arg(certLines + certLines2);
    QTest::newRow("trailing garbage") << cert + cert2 + "garbage\n"
        << QString("line %1: text after the last PEM block").arg(certLines + certLines2 + 1);
    QTest::newRow("binary junk") << binary << "line 1: binary data (not a PEM text)";
    QTest::newRow("binary junk after a certificate") << cert + binary
        << QString("line %1: binary data (not a PEM text)").arg(certLines + 1);
    QTest::newRow("NUL inside a block") << cert + QByteArray(cert2).insert(body, 1, '\0')
        << second + QString(": line %1: binary data (not a PEM text)").arg(certLines + 2);
    QTest::newRow("END with no BEGIN") << cert + "-----END CERTIFICATE-----\n"
        << QString("line %1: END line with no BEGIN line before it").arg(certLines + 1);
    QTest::newRow("malformed BEGIN") << QByteArray("-----BEGIN CERTIFICATE\nAAAA\n")
        << "line 1: malformed BEGIN line";
    QTest::newRow("empty block")
        << QByteArray("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        << "certificate 1, line 1: the base64 data is empty or cut short";
    QTest::newRow("data after the padding")
        << QByteArray("-----BEGIN CERTIFICATE-----\nAA==AAAA\n-----END CERTIFICATE-----\n")
        << "certificate 1, line 1: line 2: not base64";
    // clang-format on
}

void TestPem::refused()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, error);
    const pem::ScanResult result = pem::scan(text.toStdString());
    QCOMPARE(QString::fromStdString(result.error), error);
    if (!error.isEmpty())
        QVERIFY(result.blocks.empty());
}

void TestPem::decodesTheDer()
{
    // Base64 of "hello, world!" (13 bytes: two padding characters), wrapped over two lines.
    const std::string text = "before\n-----BEGIN DATA-----\naGVsbG8s\nIHdvcmxkIQ==\n"
                             "-----END DATA-----\n";
    const pem::ScanResult result = pem::scan(text);
    QVERIFY2(result.error.empty(), result.error.c_str());
    QCOMPARE(result.blocks.size(), size_t(1));
    const pem::Block &block = result.blocks[0];
    QCOMPARE(block.line, size_t(2));
    QCOMPARE(block.name, std::string("PEM block 'DATA', line 2"));
    QCOMPARE(text.substr(block.begin, block.end - block.begin),
             text.substr(text.find("-----BEGIN")));
    QCOMPARE(pem::decode(text, block), std::string("hello, world!"));
}

void TestPem::legacyEncryptedKeyHeaders()
{
    const std::string text = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                             "DEK-Info: AES-256-CBC,\n 0011223344556677\n\naGVsbG8s\n"
                             "-----END RSA PRIVATE KEY-----\n";
    const pem::ScanResult result = pem::scan(text);
    QVERIFY2(result.error.empty(), result.error.c_str());
    QCOMPARE(result.blocks.size(), size_t(1));
    QVERIFY(result.blocks[0].headers);
    QCOMPARE(result.blocks[0].name, std::string("private key 1, line 1"));
    QCOMPARE(pem::decode(text, result.blocks[0]), std::string("hello,"));

    const std::string noBlankLine = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                                    "aGVsbG8s\n-----END RSA PRIVATE KEY-----\n";
    QCOMPARE(pem::scan(noBlankLine).error, std::string("private key 1, line 1: line 3: malformed "
                                                       "header"));
}

QTEST_APPLESS_MAIN(TestPem)
#include "tst_pem.moc"
