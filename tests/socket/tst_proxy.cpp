// Proxies: SecureSocket honours QTcpSocket's proxy settings (setProxy() and the application
// proxy), through a small HTTP CONNECT proxy in Python started by the test on loopback. Qt
// never sends loopback destinations through the application proxy, so the server is reached
// by a name only the proxy knows, "proxied.test", which its certificate is issued for.
#include "socketfixture.h"

#include <QNetworkProxy>
#include <QProcess>
#include <QtTest>

namespace {

const char kProxyScript[] = R"(
import socket, sys, threading
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
def serve(client):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(4096)
        if not chunk:
            return
        head += chunk
    target = head.split(b" ")[1].decode()
    print("CONNECT " + target, flush=True)
    host, port = target.rsplit(":", 1)
    upstream = socket.create_connection(("127.0.0.1", int(port)))  # every name is served here
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print("PORT %d" % listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
)";

} // namespace

class TestProxy : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY(m_pki.isValid());
        const QString script = m_pki.write(QStringLiteral("proxy.py"), kProxyScript);
        m_proxy.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_proxy.start(QStringLiteral("python3"), {QStringLiteral("-u"), script});
        QVERIFY2(m_proxy.waitForStarted(5000), "python3 did not start");
        QVERIFY2(waitUntil([this] { return m_proxy.canReadLine(); }, 10000),
                 "the proxy did not report its port");
        const QByteArray line = m_proxy.readLine().trimmed();
        QVERIFY2(line.startsWith("PORT "), line.constData());
        m_proxyPort = static_cast<quint16>(line.mid(5).toUInt());
        testpki::CertSpec spec;
        spec.commonName = "proxied.test";
        spec.dnsNames = {"proxied.test"};
        m_proxiedCert = m_pki.issue(QStringLiteral("proxied"), spec, &m_pki.ca);
    }

    void cleanupTestCase()
    {
        m_proxy.kill();
        m_proxy.waitForFinished(5000);
    }

    void cleanup() { QNetworkProxy::setApplicationProxy(QNetworkProxy::NoProxy); }

    void socketProxy_data()
    {
        QTest::addColumn<bool>("application");
        QTest::newRow("setProxy") << false;
        QTest::newRow("application proxy") << true;
    }

    void socketProxy()
    {
        QFETCH(bool, application);
        TestServer server(TestServer::Tls, serverConfiguration(m_proxiedCert));
        QVERIFY(server.start());
        const QNetworkProxy proxy(QNetworkProxy::HttpProxy, QStringLiteral("127.0.0.1"),
                                  m_proxyPort);
        SecureSocket client;
        client.setConfiguration(clientConfiguration(m_pki));
        if (application)
            QNetworkProxy::setApplicationProxy(proxy);
        else
            client.setProxy(proxy);

        client.connectToHostEncrypted(QStringLiteral("proxied.test"), server.port());
        QVERIFY2(waitUntil([&] { return client.isEncrypted(); }, 10000),
                 qPrintable(client.errorString()));
        client.write("through the proxy\n");
        QVERIFY(waitUntil([&] { return client.canReadLine(); }, 10000));
        QCOMPARE(client.readLine(), QByteArray("through the proxy\n"));
        // The proxy saw the connection: the certificate was checked end to end, by name.
        QVERIFY(waitUntil([this] { return m_proxy.canReadLine(); }, 5000));
        QCOMPARE(m_proxy.readLine().trimmed(),
                 QByteArray("CONNECT proxied.test:") + QByteArray::number(server.port()));
        QCOMPARE(client.peerCertificate().commonName(), QStringLiteral("proxied.test"));
        client.disconnectFromHost();
        QVERIFY(
            waitUntil([&] { return client.state() == QAbstractSocket::UnconnectedState; }, 10000));
    }

    void refusedProxyIsReported()
    {
        SecureSocket client;
        client.setConfiguration(clientConfiguration(m_pki));
        const testsupport::RefusingPort closed; // a port where nothing listens
        const quint16 port = closed.port();
        QVERIFY(port != 0);
        client.setProxy(QNetworkProxy(QNetworkProxy::HttpProxy, QStringLiteral("127.0.0.1"), port));
        client.connectToHostEncrypted(QStringLiteral("localhost"), 443);
        QVERIFY(
            waitUntil([&] { return client.state() == QAbstractSocket::UnconnectedState; }, 10000));
        QCOMPARE(client.error(), QAbstractSocket::ProxyConnectionRefusedError);
        QVERIFY(!client.isEncrypted());
    }

private:
    TestPki m_pki;
    QProcess m_proxy;
    quint16 m_proxyPort = 0;
    QString m_proxiedCert; // for DNS:proxied.test
};

QTEST_MAIN(TestProxy)
#include "tst_proxy.moc"
