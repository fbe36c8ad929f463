// The RFC 6125 matching of a client's server_name against our certificates' DNS names, and the
// index a server context keeps of them: no OpenSSL, no sockets.
#include "servernames.h"

#include <QTest>

using securesocket::engine::isIpAddressText;
using securesocket::engine::normalizeServerName;
using securesocket::engine::ServerNameIndex;
using securesocket::engine::serverNameMatches;

class TestServerNames : public QObject
{
    Q_OBJECT

private slots:
    void matches_data();
    void matches();
    void ipAddresses();
    void indexPrefersExactNames();
    void indexKeepsOrderAndDuplicatesOnce();
};

void TestServerNames::matches_data()
{
    QTest::addColumn<QString>("pattern");
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("expected");
    QTest::newRow("exact") << "alpha.test"
                           << "alpha.test" << true;
    QTest::newRow("case-insensitive") << "Alpha.TEST"
                                      << "aLPHA.test" << true;
    QTest::newRow("trailing dot") << "alpha.test"
                                  << "alpha.test." << true;
    QTest::newRow("other name") << "alpha.test"
                                << "beta.test" << false;
    QTest::newRow("suffix is not a match") << "alpha.test"
                                           << "x.alpha.test" << false;
    QTest::newRow("wildcard, one label") << "*.beta.test"
                                         << "www.beta.test" << true;
    QTest::newRow("wildcard, case") << "*.Beta.Test"
                                    << "WWW.beta.TEST" << true;
    QTest::newRow("wildcard, two labels") << "*.beta.test"
                                          << "a.b.beta.test" << false;
    QTest::newRow("wildcard, no label") << "*.beta.test"
                                        << "beta.test" << false;
    QTest::newRow("wildcard, empty label") << "*.beta.test"
                                           << ".beta.test" << false;
    QTest::newRow("wildcard under a TLD refused") << "*.test"
                                                  << "beta.test" << false;
    QTest::newRow("bare wildcard refused") << "*"
                                           << "test" << false;
    QTest::newRow("partial label wildcard refused") << "w*.beta.test"
                                                    << "www.beta.test" << false;
    QTest::newRow("wildcard not left-most") << "www.*.test"
                                            << "www.beta.test" << false;
    QTest::newRow("two wildcards") << "*.*.test"
                                   << "a.b.test" << false;
    QTest::newRow("wildcard never for IPv4") << "*.0.0.1"
                                             << "127.0.0.1" << false;
    QTest::newRow("empty name") << "alpha.test"
                                << "" << false;
    QTest::newRow("empty pattern") << ""
                                   << "alpha.test" << false;
}

void TestServerNames::matches()
{
    QFETCH(QString, pattern);
    QFETCH(QString, name);
    QFETCH(bool, expected);
    QCOMPARE(serverNameMatches(pattern.toStdString(), name.toStdString()), expected);
    // The index says the same.
    ServerNameIndex index;
    index.add(pattern.toStdString(), 7);
    const std::vector<size_t> *found = index.find(name.toStdString());
    QCOMPARE(found != nullptr, expected);
    if (found)
        QCOMPARE(*found, std::vector<size_t>{7});
}

void TestServerNames::ipAddresses()
{
    QVERIFY(isIpAddressText("127.0.0.1"));
    QVERIFY(isIpAddressText("::1"));
    QVERIFY(isIpAddressText("fe80::1"));
    QVERIFY(!isIpAddressText("127.0.0.1.test"));
    QVERIFY(!isIpAddressText("1.2.3"));
    QVERIFY(!isIpAddressText("alpha.test"));
    QCOMPARE(normalizeServerName("WWW.Example.COM."), std::string("www.example.com"));
}

void TestServerNames::indexPrefersExactNames()
{
    ServerNameIndex index;
    index.add("*.beta.test", 0);
    index.add("mail.beta.test", 1);
    index.add("*.BETA.test", 2);
    QCOMPARE(*index.find("mail.beta.test"), std::vector<size_t>{1}); // exact beats wildcard
    QCOMPARE(*index.find("MAIL.beta.test."), std::vector<size_t>{1});
    QCOMPARE(*index.find("www.beta.test"), (std::vector<size_t>{0, 2}));
    QVERIFY(!index.find("beta.test"));
    QVERIFY(!index.find("a.www.beta.test"));
    QVERIFY(!index.find(""));
}

void TestServerNames::indexKeepsOrderAndDuplicatesOnce()
{
    ServerNameIndex index;
    QVERIFY(index.empty());
    index.add("gamma.test", 3);
    index.add("gamma.test", 1);
    index.add("GAMMA.test", 3);
    QVERIFY(!index.empty());
    QCOMPARE(*index.find("gamma.test"), (std::vector<size_t>{3, 1}));
    index.add("127.0.0.1", 4); // an odd DNS entry: only the same text matches it
    QCOMPARE(*index.find("127.0.0.1"), std::vector<size_t>{4});
}

QTEST_APPLESS_MAIN(TestServerNames)
#include "tst_servernames.moc"
