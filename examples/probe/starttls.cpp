// securesocket-probe: the STARTTLS dialogues of IMAP (RFC 3501), SMTP (RFC 3207) and POP3
// (RFC 2595), each step bounded in time, each failure said in a sentence.
#include "starttls.h"

#include <QDeadlineTimer>
#include <QHostAddress>
#include <QTcpSocket>

#include <functional>
#include <optional>

namespace probe {

namespace {

constexpr int kMaxLines = 200;         // lines read for one answer (a long capability list)
constexpr qint64 kMaxLineBytes = 8192; // a longer line is cut there

// One line from the server without its line end, or nothing when none came within msecs or the
// connection ended.
std::optional<QByteArray> readLine(QTcpSocket &socket, int msecs)
{
    const QDeadlineTimer deadline(msecs);
    // A line longer than kMaxLineBytes is taken in pieces of that size.
    for (int waits = 0; !socket.canReadLine() && socket.bytesAvailable() < kMaxLineBytes; ++waits) {
        if (socket.state() != QAbstractSocket::ConnectedState || deadline.hasExpired() ||
            waits >= 1000)
            return std::nullopt;
        socket.waitForReadyRead(static_cast<int>(qMax<qint64>(1, deadline.remainingTime())));
    }
    QByteArray line = socket.readLine(kMaxLineBytes);
    while (line.endsWith('\n') || line.endsWith('\r'))
        line.chop(1);
    return line;
}

bool send(QTcpSocket &socket, const QByteArray &command, int msecs)
{
    socket.write(command + "\r\n");
    const QDeadlineTimer deadline(msecs);
    for (int waits = 0; socket.bytesToWrite() > 0 && !deadline.hasExpired() && waits < 1000;
         ++waits) {
        if (!socket.waitForBytesWritten(
                static_cast<int>(qMax<qint64>(1, deadline.remainingTime()))))
            break;
    }
    return socket.bytesToWrite() == 0;
}

QString quoted(const QByteArray &line)
{
    return QLatin1Char('\'') + QString::fromUtf8(line.left(200)) + QLatin1Char('\'');
}

StarttlsResult fail(const QString &sentence, const QByteArray &reply = {})
{
    StarttlsResult result;
    result.failure = sentence;
    result.reply = QString::fromUtf8(reply);
    return result;
}

QString silent(int msecs)
{
    return QStringLiteral("within %1 ms, or the connection closed").arg(msecs);
}

// Reads lines until one for which done() holds; nothing when none came.
std::optional<QByteArray> readUntil(QTcpSocket &socket, int msecs,
                                    const std::function<bool(const QByteArray &)> &done,
                                    QList<QByteArray> *lines = nullptr)
{
    for (int i = 0; i < kMaxLines; ++i) {
        const std::optional<QByteArray> line = readLine(socket, msecs);
        if (!line)
            return std::nullopt;
        if (lines)
            lines->append(*line);
        if (done(*line))
            return line;
    }
    return std::nullopt;
}

StarttlsResult imap(QTcpSocket &socket, int msecs)
{
    const std::optional<QByteArray> greeting = readLine(socket, msecs);
    if (!greeting)
        return fail(QStringLiteral("no IMAP greeting: the server sent no line ") + silent(msecs) +
                    QStringLiteral(" (a port that speaks TLS at once, such as 993, needs no "
                                   "--starttls)"));
    if (!greeting->startsWith("* OK"))
        return fail(QStringLiteral("not an IMAP server ready for STARTTLS: its greeting is %1, "
                                   "not '* OK'")
                        .arg(quoted(*greeting)),
                    *greeting);
    // CAPABILITY is informative only: a server that does not list STARTTLS is still asked.
    bool announced = greeting->contains("STARTTLS");
    if (!send(socket, "a1 CAPABILITY", msecs))
        return fail(QStringLiteral("the connection failed while sending CAPABILITY"));
    QList<QByteArray> lines;
    if (!readUntil(
            socket, msecs, [](const QByteArray &l) { return l.startsWith("a1 "); }, &lines))
        return fail(QStringLiteral("no answer to CAPABILITY ") + silent(msecs));
    for (const QByteArray &line : lines)
        announced = announced || (line.startsWith("* CAPABILITY") && line.contains("STARTTLS"));
    if (!send(socket, "a2 STARTTLS", msecs))
        return fail(QStringLiteral("the connection failed while sending STARTTLS"));
    const std::optional<QByteArray> answer =
        readUntil(socket, msecs, [](const QByteArray &l) { return l.startsWith("a2 "); });
    if (!answer)
        return fail(QStringLiteral("no answer to STARTTLS ") + silent(msecs));
    if (!answer->startsWith("a2 OK"))
        return fail(QStringLiteral("the IMAP server refused STARTTLS: it answered %1%2")
                        .arg(quoted(*answer), announced
                                                  ? QString()
                                                  : QStringLiteral(" (its capabilities do not list "
                                                                   "STARTTLS)")),
                    *answer);
    StarttlsResult result;
    result.accepted = true;
    result.reply = QString::fromUtf8(*answer);
    return result;
}

// An SMTP reply (RFC 5321 4.2): "250-..." lines, then a last "250 ...". The last line.
std::optional<QByteArray> smtpReply(QTcpSocket &socket, int msecs, QList<QByteArray> *lines)
{
    return readUntil(
        socket, msecs, [](const QByteArray &l) { return l.size() < 4 || l.at(3) != '-'; }, lines);
}

// EHLO wants our own name; an address literal is always correct (RFC 5321 4.1.3).
QByteArray ehloArgument(const QTcpSocket &socket)
{
    const QHostAddress local = socket.localAddress();
    if (local.protocol() == QAbstractSocket::IPv6Protocol)
        return "[IPv6:" + local.toString().toLatin1() + ']';
    return '[' + local.toString().toLatin1() + ']';
}

StarttlsResult smtp(QTcpSocket &socket, int msecs)
{
    QList<QByteArray> lines;
    const std::optional<QByteArray> greeting = smtpReply(socket, msecs, &lines);
    if (!greeting)
        return fail(QStringLiteral("no SMTP greeting: the server sent no complete 220 reply ") +
                    silent(msecs) +
                    QStringLiteral(" (a port that speaks TLS at once, such as 465, needs no "
                                   "--starttls)"));
    if (!greeting->startsWith("220"))
        return fail(QStringLiteral("not an SMTP server ready for STARTTLS: its greeting is %1, "
                                   "not 220")
                        .arg(quoted(*greeting)),
                    *greeting);
    if (!send(socket, "EHLO " + ehloArgument(socket), msecs))
        return fail(QStringLiteral("the connection failed while sending EHLO"));
    lines.clear();
    const std::optional<QByteArray> ehlo = smtpReply(socket, msecs, &lines);
    if (!ehlo)
        return fail(QStringLiteral("no complete answer to EHLO ") + silent(msecs));
    if (!ehlo->startsWith("250"))
        return fail(
            QStringLiteral("the SMTP server refused EHLO: it answered %1").arg(quoted(*ehlo)),
            *ehlo);
    bool announced = false;
    for (const QByteArray &line : lines)
        announced = announced || line.mid(4).trimmed().toUpper() == "STARTTLS";
    if (!send(socket, "STARTTLS", msecs))
        return fail(QStringLiteral("the connection failed while sending STARTTLS"));
    lines.clear();
    const std::optional<QByteArray> answer = smtpReply(socket, msecs, &lines);
    if (!answer)
        return fail(QStringLiteral("no answer to STARTTLS ") + silent(msecs));
    if (!answer->startsWith("220"))
        return fail(
            QStringLiteral("the SMTP server refused STARTTLS: it answered %1%2")
                .arg(quoted(*answer), announced ? QString()
                                                : QStringLiteral(" (its EHLO answer does not list "
                                                                 "STARTTLS)")),
            *answer);
    StarttlsResult result;
    result.accepted = true;
    result.reply = QString::fromUtf8(*answer);
    return result;
}

StarttlsResult pop3(QTcpSocket &socket, int msecs)
{
    const std::optional<QByteArray> greeting = readLine(socket, msecs);
    if (!greeting)
        return fail(QStringLiteral("no POP3 greeting: the server sent no line ") + silent(msecs) +
                    QStringLiteral(" (a port that speaks TLS at once, such as 995, needs no "
                                   "--starttls)"));
    if (!greeting->startsWith("+OK"))
        return fail(QStringLiteral("not a POP3 server ready for STLS: its greeting is %1, not "
                                   "'+OK'")
                        .arg(quoted(*greeting)),
                    *greeting);
    if (!send(socket, "STLS", msecs))
        return fail(QStringLiteral("the connection failed while sending STLS"));
    const std::optional<QByteArray> answer = readLine(socket, msecs);
    if (!answer)
        return fail(QStringLiteral("no answer to STLS ") + silent(msecs));
    if (!answer->startsWith("+OK"))
        return fail(QStringLiteral("the POP3 server refused STLS (STARTTLS): it answered %1")
                        .arg(quoted(*answer)),
                    *answer);
    StarttlsResult result;
    result.accepted = true;
    result.reply = QString::fromUtf8(*answer);
    return result;
}

} // namespace

bool isStarttlsProtocol(const QString &protocol)
{
    return protocol == QLatin1String("imap") || protocol == QLatin1String("smtp") ||
           protocol == QLatin1String("pop3");
}

quint16 starttlsDefaultPort(const QString &protocol)
{
    if (protocol == QLatin1String("imap"))
        return 143;
    if (protocol == QLatin1String("smtp"))
        return 25;
    return 110;
}

StarttlsResult upgrade(QTcpSocket &socket, const QString &protocol, int msecs)
{
    if (protocol == QLatin1String("imap"))
        return imap(socket, msecs);
    if (protocol == QLatin1String("smtp"))
        return smtp(socket, msecs);
    return pop3(socket, msecs);
}

} // namespace probe
