// securesocket-probe: answers "why does my TLS connection fail?" in plain words. It connects
// (optionally after STARTTLS), shows what was negotiated and the certificate chain as the server
// sent it, and turns each verification failure into a sentence with its likely fix.
// Exit status: 0 verified, 2 verification failed, 1 no TLS connection, 64 bad usage.
#include "probe.h"
#include "report.h"
#include "starttls.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QHostAddress>
#include <QJsonDocument>

#include <cstdio>
#include <cstdlib>

using namespace probe;

namespace {

const char kUsage[] =
    "usage: securesocket-probe HOST[:PORT] [--starttls imap|smtp|pop3] [--servername NAME]\n"
    "         [--cafile FILE] [--capath DIR] [--no-system-ca]\n"
    "         [--client-cert FILE --client-key FILE] [--alpn LIST] [--timeout MS] [--json]\n";

[[noreturn]] void usage(const QString &message)
{
    std::fprintf(stderr, "securesocket-probe: %s\n%s(see --help)\n", qPrintable(message), kUsage);
    std::exit(UsageError);
}

// "host", "host:port", "[v6]", "[v6]:port", or a bare IPv6 address. Port 0 means: not given.
void parseTarget(const QString &target, Options &options, quint16 *port)
{
    QString host = target;
    QString portText;
    if (target.startsWith(QLatin1Char('['))) {
        const qsizetype close = target.indexOf(QLatin1Char(']'));
        if (close < 0)
            usage(QStringLiteral("'%1': an IPv6 address in brackets lacks its ']'").arg(target));
        host = target.mid(1, close - 1);
        const QString rest = target.mid(close + 1);
        if (!rest.isEmpty()) {
            if (!rest.startsWith(QLatin1Char(':')))
                usage(QStringLiteral("'%1': expected ':PORT' after ']'").arg(target));
            portText = rest.mid(1);
            if (portText.isEmpty())
                usage(QStringLiteral("'%1': no port after ':'").arg(target));
        }
        if (QHostAddress(host).protocol() != QAbstractSocket::IPv6Protocol)
            usage(QStringLiteral("'%1' in brackets is not an IPv6 address").arg(host));
    } else if (target.count(QLatin1Char(':')) == 1) {
        host = target.section(QLatin1Char(':'), 0, 0);
        portText = target.section(QLatin1Char(':'), 1);
        if (portText.isEmpty())
            usage(QStringLiteral("'%1': no port after ':'").arg(target));
    } else if (target.contains(QLatin1Char(':')) &&
               QHostAddress(target).protocol() != QAbstractSocket::IPv6Protocol) {
        usage(
            QStringLiteral("'%1' is neither HOST[:PORT] nor an IPv6 address (write [ADDRESS]:PORT)")
                .arg(target));
    }
    if (host.isEmpty())
        usage(QStringLiteral("no host in '%1'").arg(target));
    options.host = host;
    *port = 0;
    if (!portText.isEmpty()) {
        bool ok = false;
        const uint value = portText.toUInt(&ok);
        if (!ok || value == 0 || value > 65535)
            usage(QStringLiteral("bad port '%1' (1 to 65535)").arg(portText));
        *port = static_cast<quint16>(value);
    }
}

Options parseArguments(const QCoreApplication &app)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Connects to a TLS server and says what was negotiated, which certificates the server "
        "sent, and why verification fails, with the likely fix. Exit status: 0 verified, 2 "
        "verification failed, 1 no TLS connection, 64 bad usage."));
    parser.addHelpOption();
    parser.addPositionalArgument(QStringLiteral("HOST[:PORT]"),
                                 QStringLiteral("The server; IPv6 as [::1]:993. Default port "
                                                "443, or 143/25/110 with --starttls."));
    const QCommandLineOption starttls(QStringLiteral("starttls"),
                                      QStringLiteral("Upgrade a plain connection first: imap, "
                                                     "smtp or pop3."),
                                      QStringLiteral("PROTOCOL"));
    const QCommandLineOption serverName(QStringLiteral("servername"),
                                        QStringLiteral("The name sent as SNI and verified "
                                                       "(default HOST)."),
                                        QStringLiteral("NAME"));
    const QCommandLineOption caFile(QStringLiteral("cafile"),
                                    QStringLiteral("Also trust the CA certificates of this PEM "
                                                   "file."),
                                    QStringLiteral("FILE"));
    const QCommandLineOption caPath(QStringLiteral("capath"),
                                    QStringLiteral("Also trust the CA certificates of this "
                                                   "hashed directory (openssl rehash)."),
                                    QStringLiteral("DIR"));
    const QCommandLineOption noSystemCa(QStringLiteral("no-system-ca"),
                                        QStringLiteral("Do not trust the system CA store."));
    const QCommandLineOption clientCert(QStringLiteral("client-cert"),
                                        QStringLiteral("Present this certificate chain (PEM)."),
                                        QStringLiteral("FILE"));
    const QCommandLineOption clientKey(QStringLiteral("client-key"),
                                       QStringLiteral("The private key of --client-cert (PEM)."),
                                       QStringLiteral("FILE"));
    const QCommandLineOption alpn(QStringLiteral("alpn"),
                                  QStringLiteral("ALPN protocols to offer, comma-separated; \"\" "
                                                 "offers none (default h2,http/1.1, none with "
                                                 "--starttls)."),
                                  QStringLiteral("LIST"));
    const QCommandLineOption timeout(QStringLiteral("timeout"),
                                     QStringLiteral("Wait at most this long for each step: the "
                                                    "TCP connection, each STARTTLS answer, the "
                                                    "handshake (default 10000)."),
                                     QStringLiteral("MS"), QStringLiteral("10000"));
    const QCommandLineOption json(QStringLiteral("json"),
                                  QStringLiteral("Print the findings as one JSON object."));
    parser.addOptions({starttls, serverName, caFile, caPath, noSystemCa, clientCert, clientKey,
                       alpn, timeout, json});
    if (!parser.parse(app.arguments()))
        usage(parser.errorText());
    if (parser.isSet(QStringLiteral("help")))
        parser.showHelp(Verified);

    Options options;
    const QStringList args = parser.positionalArguments();
    if (args.isEmpty())
        usage(QStringLiteral("missing HOST"));
    if (args.size() > 1)
        usage(QStringLiteral("one HOST[:PORT] only, got: %1").arg(args.join(QLatin1Char(' '))));
    quint16 port = 0;
    parseTarget(args.first(), options, &port);

    if (parser.isSet(starttls)) {
        options.starttls = parser.value(starttls).toLower();
        if (!isStarttlsProtocol(options.starttls))
            usage(QStringLiteral("unknown --starttls protocol '%1' (imap, smtp or pop3)")
                      .arg(parser.value(starttls)));
    }
    options.port =
        port ? port
             : (options.starttls.isEmpty() ? quint16(443) : starttlsDefaultPort(options.starttls));
    options.serverName = parser.isSet(serverName) ? parser.value(serverName) : options.host;
    if (options.serverName.isEmpty())
        usage(QStringLiteral("--servername is empty"));
    options.caFile = parser.value(caFile);
    options.caPath = parser.value(caPath);
    options.systemCa = !parser.isSet(noSystemCa);
    if (!options.systemCa && options.caFile.isEmpty() && options.caPath.isEmpty())
        usage(QStringLiteral("--no-system-ca needs --cafile or --capath (nothing would be "
                             "trusted)"));
    options.clientCert = parser.value(clientCert);
    options.clientKey = parser.value(clientKey);
    if (parser.isSet(clientCert) != parser.isSet(clientKey))
        usage(QStringLiteral("--client-cert and --client-key go together"));
    if (parser.isSet(alpn)) {
        for (const QString &p : parser.value(alpn).split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            if (p.trimmed().isEmpty() || p.trimmed().size() > 255)
                usage(QStringLiteral("bad ALPN protocol '%1'").arg(p));
            options.alpn << p.trimmed().toUtf8();
        }
    } else if (options.starttls.isEmpty()) {
        options.alpn = {"h2", "http/1.1"};
    }
    bool isNumber = false;
    options.timeoutMsecs = parser.value(timeout).toInt(&isNumber);
    if (!isNumber || options.timeoutMsecs <= 0 || options.timeoutMsecs > 600000)
        usage(QStringLiteral("bad --timeout '%1' (milliseconds, 1 to 600000)")
                  .arg(parser.value(timeout)));
    options.json = parser.isSet(json);
    return options;
}

void print(const QByteArray &text)
{
    std::fwrite(text.constData(), 1, static_cast<size_t>(text.size()), stdout);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("securesocket-probe"));
    const Options options = parseArguments(app);

    const SecureConfiguration config = configurationFor(options);
    // A file named on the command line that cannot be used is a usage error, said at once.
    if (const QString problem = config.validate(); !problem.isEmpty())
        usage(problem);

    const Findings findings = run(options, config);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (options.json)
        print(QJsonDocument(jsonReport(options, findings, now)).toJson(QJsonDocument::Indented));
    else
        print(textReport(options, findings, now).toUtf8());
    if (!findings.first.encrypted)
        return NoConnection;
    return findings.first.verifyErrors.isEmpty() ? Verified : VerificationFailed;
}
