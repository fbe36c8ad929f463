// doc/session-tickets.md: a server's ticket key file, and a client saving its session and
// resuming it after a restart. Built by the suite (snippet_session_tickets) and run without
// arguments: it then only sets up the objects (no file is read, no connection is made).
#include <SecureSocket/secureserver.h>
#include <SecureSocket/securesocket.h>

#include <QCoreApplication>
#include <QMap>

void shareTicketKeys(SecureServer &server)
{
    //! [server]
    SecureConfiguration config;
    config.setLocalCertificateChainFile("server.pem");
    config.setPrivateKeyFile("server.key");
    config.setTicketKeyFile("/etc/myservice/ticket.key");
    config.setTicketKeyLifetime(3600); // the default; the same in every process sharing the file
    if (const QString problem = config.validate(true); !problem.isEmpty())
        qFatal("%s", qPrintable(problem));
    server.setConfiguration(config);
    //! [server]
}

// Where the application keeps its tickets: here, a table in memory (keep them as passwords).
struct TicketStore
{
    void save(const QString &host, const QByteArray &ticket) { tickets.insert(host, ticket); }
    QByteArray load(const QString &host) const { return tickets.value(host); }
    QMap<QString, QByteArray> tickets;
};
TicketStore store;

//! [client]
// Saving: after the ticket came (TLS 1.3 sends it after the handshake).
void keepTicket(SecureSocket *socket)
{
    QObject::connect(socket, &SecureSocket::sessionTicketReceived, socket, [socket] {
        store.save(socket->peerName(), socket->sessionTicket()); // secret: see below
    });
}

// After a restart, before connecting:
void resume(SecureSocket &socket, const SecureConfiguration &config)
{
    socket.setConfiguration(config);
    socket.setSessionTicket(store.load("mail.example.com"));
    socket.connectToHostEncrypted("mail.example.com", 993);
    // ... socket.isSessionResumed() once encrypted()
}
//! [client]

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    SecureSocket socket;
    keepTicket(&socket);
    if (argc > 1) { // the guide's files and host
        SecureServer server;
        shareTicketKeys(server);
        resume(socket, SecureConfiguration());
    }
    return 0;
}
