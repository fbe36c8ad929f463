// Internal: SecureServer's state. secureserver.cpp holds the handshakes the server runs and
// the public API; serveradmission.cpp the server's own accept loop (what it takes from the
// kernel's backlog, and when).
#ifndef SECURESOCKET_SECURESERVER_P_H
#define SECURESOCKET_SECURESERVER_P_H

#include <SecureSocket/secureserver.h>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QLoggingCategory>
#include <QPointer>
#include <QSocketNotifier>
#include <QTimer>

#include <atomic>
#include <cerrno>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

Q_DECLARE_LOGGING_CATEGORY(lcSecureServer)

namespace securesocket::server {
// The listen backlog: where a burst waits while the server has no room (the kernel caps it at
// net.core.somaxconn, 4096 on current Linux).
constexpr int kDefaultBacklog = 1024;

inline bool isResourceError(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// The count of open connections, shared with the sockets that hold a place in it: a socket's
// connection ends in whatever thread it then lives, possibly after the server is gone.
// Runs wake() in the server's thread when an event is posted to it: a plain event, owned by
// Qt's queue, where a queued functor would be freed by whichever thread drops it last.
class Waker : public QObject
{
public:
    Waker(QObject *parent, std::function<void()> wake) : QObject(parent), m_wake(std::move(wake)) {}
    bool event(QEvent *event) override
    {
        if (event->type() != QEvent::User)
            return QObject::event(event);
        m_wake();
        return true;
    }

private:
    std::function<void()> m_wake; // the server looks again whether it has room
};

struct OpenConnections
{
    std::atomic<int> count{0};
    std::mutex mutex;
    Waker *server = nullptr; // null once the server is gone

    void release()
    {
        --count;
        std::lock_guard<std::mutex> lock(mutex);
        if (server)
            QCoreApplication::postEvent(server, new QEvent(QEvent::User));
    }
};
} // namespace securesocket::server

class SecureServerPrivate
{
public:
    explicit SecureServerPrivate(SecureServer *q) : q(q) {}

    // One handshake in progress.
    struct Handshake
    {
        QPointer<SecureSocket> socket;
        QString peer;            // "address:port", taken at accept time
        QTimer *timer = nullptr; // the handshake timeout; a child of the server
        qint64 wireBytes = 0;    // the socket's count when progress was last seen
        QElapsedTimer sinceProgress;
        bool heardFrom = false; // the client has sent something
    };
    enum class Drop {
        Abort,     // the server gives up on the socket: drop it at once
        LetItClose // the socket failed on its own and is sending its alert: let it finish
    };

    void accept(qintptr descriptor);
    void succeed(SecureSocket *socket);
    void fail(SecureSocket *socket, const QString &reason, Drop drop);
    std::list<Handshake>::iterator find(const SecureSocket *socket);
    void erase(std::list<Handshake>::iterator it);
    void holdNewConnectionSignal();
    template <typename Emit> void emitSignal(Emit emitSignalNow);

    // Admission: the server's own accept loop on the listening descriptor.
    bool startAccepting(int own = -1);
    bool watchingCurrentSocket() const;
    void stopAccepting();
    void onListenerReadable();
    bool hasRoom() const;
    void updateAccepting();
    void backOff(int err);
    void evictStalled();
    bool backlogWaiting() const;

    SecureServer *q;
    SecureConfiguration config;
    int timeout = 5000;
    int maxPending = 256;
    int idleTimeout = 0;
    int maxConnections = 0;
    // Accepted and not yet unconnected or deleted.
    std::shared_ptr<securesocket::server::OpenConnections> open =
        std::make_shared<securesocket::server::OpenConnections>();
    QString error;
    bool holdingSignals = false;
    std::list<Handshake> pending;             // oldest first
    std::deque<QPointer<SecureSocket>> ready; // encrypted, not taken yet

    int listener = -1;                   // our duplicate of the listening descriptor
    QSocketNotifier *notifier = nullptr; // on listener
    bool pausedByUser = false;
    QTimer *backoffTimer = nullptr;
    int backoffMsecs = 0;
    QTimer *stallTimer = nullptr;
    bool loggedCapacity = false;
    bool acceptingHere = false; // incomingConnection() is called by our loop, not Qt's
};

// Our own signals pass even while QTcpServer's early newConnection() is held back.
template <typename Emit> void SecureServerPrivate::emitSignal(Emit emitSignalNow)
{
    if (!holdingSignals) {
        emitSignalNow();
        return;
    }
    QPointer<SecureServer> guard(q);
    q->blockSignals(false);
    emitSignalNow();
    if (guard && holdingSignals)
        q->blockSignals(true);
}

#endif
