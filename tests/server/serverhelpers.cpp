#include "serverhelpers.h"

#include "pkidirectory.h"
#include "testpki.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

#include <cstring>
#include <random>

namespace servertest {

namespace {

const char kPythonClient[] = R"PY(
import argparse, hashlib, json, select, socket, ssl, struct, sys, time, warnings

CHUNK = 256 * 1024

def main():
    a = argparse.ArgumentParser()
    a.add_argument('--port', type=int, required=True)
    a.add_argument('--name', default='localhost')
    a.add_argument('--ca')
    a.add_argument('--cert')
    a.add_argument('--key')
    a.add_argument('--tls', default='any', choices=['any', '1.0', '1.2', '1.3'])
    a.add_argument('--insecure', action='store_true')
    a.add_argument('--send')
    a.add_argument('--connections', type=int, default=1)
    a.add_argument('--wait-close', action='store_true')
    a.add_argument('--end', default='clean', choices=['clean', 'truncate', 'reset'])
    a.add_argument('--timeout', type=float, default=60)
    args = a.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.tls == '1.0':
        warnings.simplefilter('ignore')
        ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    elif args.tls != 'any':
        v = ssl.TLSVersion.TLSv1_2 if args.tls == '1.2' else ssl.TLSVersion.TLSv1_3
        ctx.minimum_version = ctx.maximum_version = v

    results = []
    conns = []
    try:
        for _ in range(args.connections):
            raw = socket.create_connection(('127.0.0.1', args.port), timeout=args.timeout)
            s = ctx.wrap_socket(raw, server_hostname=args.name, suppress_ragged_eofs=False)
            r = {'version': s.version(), 'cipher': s.cipher()[0], 'received': 0,
                 'sha256': '', 'end': ''}
            conns.append((s, r, hashlib.sha256()))
            results.append(r)
        data = open(args.send, 'rb').read() if args.send else b''
        echo(conns, memoryview(data), time.monotonic() + args.timeout)
        for s, r, h in conns:
            r['sha256'] = h.hexdigest()
            s.setblocking(True)
            s.settimeout(args.timeout)
        if args.wait_close:
            print('ready', flush=True)
            for s, r, h in conns:
                r['end'] = wait_close(s)
        else:
            for s, r, h in conns:
                if args.end == 'reset':  # no close_notify, and RST instead of FIN
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    s.close()
                elif args.end == 'truncate':  # no close_notify, an orderly TCP end
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                else:
                    s.unwrap()
                r['end'] = args.end
        print(json.dumps({'ok': True, 'error': '', 'connections': results}), flush=True)
    except Exception as e:
        for s, r, h in conns:
            r['sha256'] = h.hexdigest()
        print(json.dumps({'ok': False, 'error': '%s: %s' % (type(e).__name__, e),
                          'connections': results}), flush=True)
        sys.exit(1)

def echo(conns, data, deadline):
    sent = [0] * len(conns)
    for s, r, h in conns:
        s.setblocking(False)
    while any(r['received'] < len(data) for s, r, h in conns):
        if time.monotonic() > deadline:
            raise TimeoutError('echo incomplete: %s of %d bytes' %
                               ([r['received'] for s, r, h in conns], len(data)))
        progressed = False
        for i, (s, r, h) in enumerate(conns):
            if sent[i] < len(data):
                try:
                    sent[i] += s.send(data[sent[i]:sent[i] + CHUNK])
                    progressed = True
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            while r['received'] < len(data):
                try:
                    chunk = s.recv(CHUNK)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not chunk:
                    raise ConnectionError('the server closed the connection (close_notify)')
                h.update(chunk)
                r['received'] += len(chunk)
                progressed = True
        if not progressed:
            select.select([c[0] for c in conns],
                          [c[0] for i, c in enumerate(conns) if sent[i] < len(data)], [], 0.2)

def wait_close(s):
    try:
        extra = s.recv(CHUNK)
        return 'close_notify' if extra == b'' else 'unexpected data'
    except ssl.SSLEOFError:
        return 'truncated'
    except socket.timeout:
        return 'timeout'

main()
)PY";

} // namespace

Pki Pki::create(const QString &dir)
{
    using testpki::CertSpec;
    using testpki::PkiDirectory;
    const PkiDirectory files(dir);
    Pki pki;
    pki.dir = dir;

    testpki::Issued ca;
    testpki::Issued server;
    const CertSpec caSpec = testpki::caSpec("SecureSocket Test Server CA");
    pki.ca = files.issue(QStringLiteral("ca"), caSpec, nullptr, &ca);
    CertSpec serverSpec = testpki::localhostSpec();
    serverSpec.extendedKeyUsage = {"serverAuth"};
    // Scanners rate a certificate that expires within 60 days as a finding.
    serverSpec.notAfterOffset = 90L * 24 * 3600;
    pki.serverCert = files.issue(QStringLiteral("server"), serverSpec, &ca, &server);
    pki.serverKey = PkiDirectory::keyFileOf(pki.serverCert);
    CertSpec dnsOnlySpec = serverSpec;
    dnsOnlySpec.commonName = "example.test";
    dnsOnlySpec.dnsNames = {"example.test"};
    dnsOnlySpec.ipAddresses = {};
    pki.dnsOnlyCert = files.issue(QStringLiteral("dns-only"), dnsOnlySpec, &ca);
    pki.dnsOnlyKey = PkiDirectory::keyFileOf(pki.dnsOnlyCert);
    CertSpec otherSpec;
    otherSpec.commonName = "unrelated";
    pki.otherKey =
        PkiDirectory::keyFileOf(files.issue(QStringLiteral("other"), otherSpec, nullptr));

    testpki::Issued clientCa;
    testpki::Issued otherCa;
    const CertSpec clientCaSpec = testpki::caSpec("SecureSocket Test Client CA");
    pki.clientCa = files.issue(QStringLiteral("client-ca"), clientCaSpec, nullptr, &clientCa);
    const CertSpec otherCaSpec = testpki::caSpec("Other Client CA");
    files.issue(QStringLiteral("other-ca"), otherCaSpec, nullptr, &otherCa);
    CertSpec aliceSpec = testpki::clientSpec("alice");
    aliceSpec.dnsNames = {"alice.example"};
    pki.aliceCert = files.issue(QStringLiteral("alice"), aliceSpec, &clientCa);
    pki.aliceKey = PkiDirectory::keyFileOf(pki.aliceCert);
    CertSpec mallorySpec = aliceSpec;
    mallorySpec.commonName = "mallory";
    mallorySpec.dnsNames = {"mallory.example"};
    pki.malloryCert = files.issue(QStringLiteral("mallory"), mallorySpec, &otherCa);
    pki.malloryKey = PkiDirectory::keyFileOf(pki.malloryCert);
    CertSpec expiredSpec = aliceSpec;
    expiredSpec.commonName = "old-alice";
    expiredSpec.notBeforeOffset = -30L * 24 * 3600;
    expiredSpec.notAfterOffset = -3600;
    pki.expiredCert = files.issue(QStringLiteral("expired"), expiredSpec, &clientCa);
    pki.expiredKey = PkiDirectory::keyFileOf(pki.expiredCert);

    pki.serverKeyEncrypted = files.write(QStringLiteral("server-encrypted.key"),
                                         testpki::encryptKey(server.keyPem, kPassphrase));
    pki.passphraseFile =
        files.write(QStringLiteral("passphrase.txt"), std::string(kPassphrase) + "\n");
    pki.wrongPassphraseFile =
        files.write(QStringLiteral("wrong-passphrase.txt"), "not the passphrase\n");
    pki.clientCaName = QStringLiteral("CN=") + QString::fromStdString(clientCaSpec.commonName);
    pki.otherCaName = QStringLiteral("CN=") + QString::fromStdString(otherCaSpec.commonName);
    return pki;
}

bool EchoServer::start(const QStringList &arguments, int listeners)
{
    return started(m_child.start(m_program, arguments), listeners);
}

bool EchoServer::startWithDescriptorLimit(int descriptors, const QStringList &arguments)
{
    const QString script = QStringLiteral("ulimit -n %1 && exec \"$0\" \"$@\"").arg(descriptors);
    return started(
        m_child.start(QStringLiteral("sh"), QStringList{"-c", script, m_program} + arguments), 1);
}

bool EchoServer::started(bool running, int listeners)
{
    if (!running)
        return false;
    // "echoserver: listener NAME on ADDRESS:PORT", one per listener (its warnings come first).
    static const QRegularExpression line(
        QStringLiteral("^echoserver: listener (\\S+) on (\\S+):(\\d+) "),
        QRegularExpression::MultilineOption);
    const auto listening = [&] {
        int count = 0;
        for (auto it = line.globalMatch(QString::fromUtf8(m_child.standardError())); it.hasNext();
             it.next())
            ++count;
        return count;
    };
    // A sanitizer build on a loaded machine may take more than 10 s to start.
    const bool up =
        waitUntil([&] { return !m_child.isRunning() || listening() >= listeners; }, 30000);
    if (!up || !m_child.isRunning())
        return false;
    auto matches = line.globalMatch(QString::fromUtf8(m_child.standardError()));
    while (matches.hasNext()) {
        const auto match = matches.next();
        m_ports[match.captured(1)] = static_cast<quint16>(match.captured(3).toUInt());
    }
    m_up = m_ports.size() == listeners;
    return m_up;
}

QByteArray EchoServer::unexpectedLog() const
{
    QByteArray unexpected;
    for (const QByteArray &line : log().split('\n')) {
        if (!line.isEmpty() && !line.startsWith("echoserver: ") &&
            !line.startsWith("securesocket."))
            unexpected += line + '\n';
    }
    return unexpected;
}

void writeRandomFile(const QString &path, qint64 size, quint32 seed)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        throw std::runtime_error("cannot write " + path.toStdString());
    std::mt19937_64 random(seed);
    QByteArray block(1 << 20, Qt::Uninitialized);
    for (qint64 left = size; left > 0;) {
        const qint64 n = std::min<qint64>(left, block.size());
        for (qint64 i = 0; i < n; i += 8) {
            const quint64 value = random();
            std::memcpy(block.data() + i, &value, static_cast<size_t>(std::min<qint64>(8, n - i)));
        }
        file.write(block.constData(), n);
        left -= n;
    }
}

QByteArray sha256OfFile(const QString &path)
{
    QFile file(path);
    QCryptographicHash hash(QCryptographicHash::Sha256);
    if (!file.open(QIODevice::ReadOnly) || !hash.addData(&file))
        return {};
    return hash.result().toHex();
}

QByteArray sha256Hex(const QByteArray &data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

QString writePythonClient(const QString &dir)
{
    const QString path = QDir(dir).filePath(QStringLiteral("tlsclient.py"));
    testpki::writeFile(QFile::encodeName(path).toStdString(), kPythonClient);
    return path;
}

ClientResult parseClientResult(const QByteArray &output)
{
    ClientResult result;
    const QList<QByteArray> lines = output.trimmed().split('\n');
    const QJsonDocument doc =
        QJsonDocument::fromJson(lines.isEmpty() ? QByteArray() : lines.last());
    if (!doc.isObject())
        return result;
    const QJsonObject object = doc.object();
    result.parsed = true;
    result.ok = object.value(QStringLiteral("ok")).toBool();
    result.error = object.value(QStringLiteral("error")).toString();
    for (const QJsonValue &value : object.value(QStringLiteral("connections")).toArray()) {
        const QJsonObject c = value.toObject();
        ClientResult::Connection connection;
        connection.version = c.value(QStringLiteral("version")).toString();
        connection.cipher = c.value(QStringLiteral("cipher")).toString();
        connection.end = c.value(QStringLiteral("end")).toString();
        connection.received = c.value(QStringLiteral("received")).toInteger();
        connection.sha256 = c.value(QStringLiteral("sha256")).toString().toLatin1();
        result.connections.append(connection);
    }
    return result;
}

} // namespace servertest
