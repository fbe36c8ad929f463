#include "serverhelpers.h"

#include "testpki.h"

#include <QCryptographicHash>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

#include <csignal>
#include <random>

namespace servertest {

namespace {

QString save(const QString &dir, const char *name, const std::string &content)
{
    const QString path = QDir(dir).filePath(QString::fromLatin1(name));
    testpki::writeFile(QFile::encodeName(path).toStdString(), content);
    return path;
}

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
    Pki pki;
    pki.dir = dir;

    CertSpec caSpec;
    caSpec.commonName = "SecureSocket Test Server CA";
    caSpec.isCa = true;
    const testpki::Issued ca = testpki::makeCertificate(caSpec);
    CertSpec serverSpec;
    serverSpec.commonName = "localhost";
    serverSpec.dnsNames = {"localhost"};
    serverSpec.ipAddresses = {"127.0.0.1"};
    serverSpec.extendedKeyUsage = {"serverAuth"};
    // Scanners rate a certificate that expires within 60 days as a finding.
    serverSpec.notAfterOffset = 90L * 24 * 3600;
    const testpki::Issued server = testpki::makeCertificate(serverSpec, &ca);
    CertSpec dnsOnlySpec = serverSpec;
    dnsOnlySpec.commonName = "example.test";
    dnsOnlySpec.dnsNames = {"example.test"};
    dnsOnlySpec.ipAddresses = {};
    const testpki::Issued dnsOnly = testpki::makeCertificate(dnsOnlySpec, &ca);
    CertSpec otherSpec;
    otherSpec.commonName = "unrelated";
    const testpki::Issued other = testpki::makeCertificate(otherSpec);

    CertSpec clientCaSpec;
    clientCaSpec.commonName = "SecureSocket Test Client CA";
    clientCaSpec.isCa = true;
    const testpki::Issued clientCa = testpki::makeCertificate(clientCaSpec);
    CertSpec otherCaSpec;
    otherCaSpec.commonName = "Other Client CA";
    otherCaSpec.isCa = true;
    const testpki::Issued otherCa = testpki::makeCertificate(otherCaSpec);
    CertSpec aliceSpec;
    aliceSpec.commonName = "alice";
    aliceSpec.dnsNames = {"alice.example"};
    aliceSpec.extendedKeyUsage = {"clientAuth"};
    const testpki::Issued alice = testpki::makeCertificate(aliceSpec, &clientCa);
    CertSpec mallorySpec = aliceSpec;
    mallorySpec.commonName = "mallory";
    mallorySpec.dnsNames = {"mallory.example"};
    const testpki::Issued mallory = testpki::makeCertificate(mallorySpec, &otherCa);
    CertSpec expiredSpec = aliceSpec;
    expiredSpec.commonName = "old-alice";
    expiredSpec.notBeforeOffset = -30L * 24 * 3600;
    expiredSpec.notAfterOffset = -3600;
    const testpki::Issued expired = testpki::makeCertificate(expiredSpec, &clientCa);

    pki.ca = save(dir, "ca.pem", ca.certPem);
    pki.serverCert = save(dir, "server.pem", server.certPem);
    pki.serverKey = save(dir, "server.key", server.keyPem);
    pki.serverKeyEncrypted =
        save(dir, "server-encrypted.key", testpki::encryptKey(server.keyPem, kPassphrase));
    pki.passphraseFile = save(dir, "passphrase.txt", std::string(kPassphrase) + "\n");
    pki.wrongPassphraseFile = save(dir, "wrong-passphrase.txt", "not the passphrase\n");
    pki.otherKey = save(dir, "other.key", other.keyPem);
    pki.dnsOnlyCert = save(dir, "dns-only.pem", dnsOnly.certPem);
    pki.dnsOnlyKey = save(dir, "dns-only.key", dnsOnly.keyPem);
    pki.clientCa = save(dir, "client-ca.pem", clientCa.certPem);
    pki.aliceCert = save(dir, "alice.pem", alice.certPem);
    pki.aliceKey = save(dir, "alice.key", alice.keyPem);
    pki.malloryCert = save(dir, "mallory.pem", mallory.certPem);
    pki.malloryKey = save(dir, "mallory.key", mallory.keyPem);
    pki.expiredCert = save(dir, "expired.pem", expired.certPem);
    pki.expiredKey = save(dir, "expired.key", expired.keyPem);
    pki.clientCaName = QStringLiteral("CN=") + QString::fromStdString(clientCaSpec.commonName);
    pki.otherCaName = QStringLiteral("CN=") + QString::fromStdString(otherCaSpec.commonName);
    return pki;
}

bool waitUntil(const std::function<bool()> &done, int msecs)
{
    QDeadlineTimer deadline(msecs);
    while (!done()) {
        if (deadline.hasExpired())
            return done();
        QTest::qWait(5);
    }
    return true;
}

Child::Child() = default;

Child::~Child()
{
    kill();
}

bool Child::start(const QString &program, const QStringList &arguments, const QString &stdinFile)
{
    m_process = std::make_unique<QProcess>();
    m_command = program + QLatin1Char(' ') + arguments.join(QLatin1Char(' '));
    m_stdout.clear();
    m_stderr.clear();
    QProcess *process = m_process.get();
    QObject::connect(process, &QProcess::readyReadStandardOutput, process,
                     [this, process] { m_stdout += process->readAllStandardOutput(); });
    QObject::connect(process, &QProcess::readyReadStandardError, process,
                     [this, process] { m_stderr += process->readAllStandardError(); });
    if (!stdinFile.isEmpty())
        process->setStandardInputFile(stdinFile);
    // Output formats the tests parse must not depend on the caller's environment.
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("QT_MESSAGE_PATTERN"));
    env.remove(QStringLiteral("QT_LOGGING_RULES"));
    process->setProcessEnvironment(env);
    process->start(program, arguments);
    if (!process->waitForStarted(10000)) {
        m_startError = QStringLiteral("cannot start: ") + process->errorString();
        return false;
    }
    return true;
}

void Child::write(const QByteArray &data)
{
    m_process->write(data);
}

void Child::closeWriteChannel()
{
    m_process->closeWriteChannel();
}

bool Child::waitForStdout(const std::function<bool(const QByteArray &)> &done, int msecs)
{
    return waitUntil([&] { return done(m_stdout); }, msecs);
}

bool Child::waitForStderr(const QByteArray &needle, int msecs)
{
    return waitUntil([&] { return m_stderr.contains(needle); }, msecs);
}

bool Child::waitForExit(int msecs)
{
    const bool exited = waitUntil([this] { return !isRunning(); }, msecs);
    if (exited && m_process) {
        // What was printed just before the exit.
        m_stdout += m_process->readAllStandardOutput();
        m_stderr += m_process->readAllStandardError();
    }
    return exited;
}

void Child::terminate(int signal)
{
    if (isRunning())
        ::kill(static_cast<pid_t>(m_process->processId()), signal);
}

void Child::kill()
{
    if (!isRunning())
        return;
    m_process->kill();
    m_process->waitForFinished(5000);
}

bool Child::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

qint64 Child::pid() const
{
    return m_process ? m_process->processId() : 0;
}

int Child::exitCode() const
{
    return m_process ? m_process->exitCode() : -1;
}

QProcess::ExitStatus Child::exitStatus() const
{
    return m_process ? m_process->exitStatus() : QProcess::CrashExit;
}

QString Child::describe() const
{
    QString state = m_startError;
    if (state.isEmpty()) {
        state = isRunning() ? QStringLiteral("still running")
                            : QStringLiteral("exited with status %1%2")
                                  .arg(exitCode())
                                  .arg(exitStatus() == QProcess::CrashExit ? " (crashed)" : "");
    }
    auto tail = [](const QByteArray &text) {
        return QString::fromUtf8(text.size() > 3000 ? "..." + text.right(3000) : text);
    };
    return QStringLiteral("`%1`: %2\n--- stdout:\n%3\n--- stderr:\n%4")
        .arg(m_command, state, tail(m_stdout), tail(m_stderr));
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
