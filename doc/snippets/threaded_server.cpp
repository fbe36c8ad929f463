// doc/threads.md: an echo server that runs the handshakes in the main thread and serves each
// encrypted connection in one of WORKERS worker threads, in turn.
// Usage: threaded_server CERT-FILE KEY-FILE [WORKERS]
// Listens on 127.0.0.1, on a free port, which it prints; runs until killed.
#include <SecureSocket/secureserver.h>

#include <QCoreApplication>
#include <QThread>

#include <cstdio>
#include <memory>
#include <vector>

//! [serve]
// Runs in the thread the socket lives in: echoes every byte back.
void serve(SecureSocket *socket)
{
    std::printf("%s served by %s\n", qPrintable(socket->peerAddress().toString()),
                qPrintable(QThread::currentThread()->objectName()));
    std::fflush(stdout);
    auto echo = [socket] { socket->write(socket->readAll()); };
    QObject::connect(socket, &SecureSocket::readyRead, socket, echo);
    QObject::connect(socket, &SecureSocket::disconnected, socket, &QObject::deleteLater);
    echo(); // what arrived before the socket reached this thread
}
//! [serve]

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() != 3 && args.size() != 4) {
        std::fprintf(stderr, "usage: threaded_server CERT-FILE KEY-FILE [WORKERS]\n");
        return 64;
    }
    //! [workers]
    const int count = args.size() == 4 ? qBound(1, args[3].toInt(), 16) : 2;
    std::vector<std::unique_ptr<QThread>> workers;
    for (int i = 0; i < count; ++i) {
        workers.push_back(std::make_unique<QThread>());
        workers.back()->setObjectName(QStringLiteral("worker %1").arg(i));
        workers.back()->start(); // QThread::run() runs an event loop: exec()
    }
    //! [workers]

    SecureConfiguration config;
    config.setLocalCertificateChainFile(args[1]);
    config.setPrivateKeyFile(args[2]);
    SecureServer server;
    server.setConfiguration(config);
    server.setClientCertificatePolicy(SecureServer::NoClientCertificate);

    //! [handoff]
    size_t next = 0;
    auto handOff = [&] {
        while (SecureSocket *socket = server.nextPendingSecureConnection()) {
            QThread *worker = workers[next++ % workers.size()].get();
            socket->setParent(nullptr); // an object with a parent cannot change threads
            socket->moveToThread(worker);
            QMetaObject::invokeMethod(socket, [socket] { serve(socket); }); // runs in worker
        }
    };
    // newConnection() fires inside the socket's own encrypted() processing: move it later.
    QObject::connect(&server, &SecureServer::newConnection, &server,
                     [&] { QMetaObject::invokeMethod(&server, handOff, Qt::QueuedConnection); });
    //! [handoff]

    if (!server.listen(QHostAddress::LocalHost, 0)) {
        std::fprintf(stderr, "threaded_server: %s\n", qPrintable(server.errorString()));
        return 1;
    }
    std::printf("listening on port %u\n", server.serverPort());
    std::fflush(stdout);
    const int status = app.exec();
    for (const auto &worker : workers) {
        worker->quit();
        worker->wait();
    }
    return status;
}
