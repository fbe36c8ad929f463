// A child process of the benchmark: this program re-executed in a hidden role (--serve or
// --client), pinned to a core of its own, ended by the parent (or by the parent's death).
#ifndef SECURESOCKET_BENCH_CHILD_H
#define SECURESOCKET_BENCH_CHILD_H

#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>

#include <optional>

namespace bench {

class Child
{
public:
    explicit Child(const QString &scratchDir);
    ~Child();
    Child(const Child &) = delete;
    Child &operator=(const Child &) = delete;

    // Runs the child under this command (e.g. valgrind and its options) instead of the one
    // in SECURESOCKET_BENCH_CHILD_WRAPPER. Set before starting it.
    void setWrapper(const QStringList &command) { m_wrapper = command; }
    // Starts a --serve role and waits until it listens (its port file appears).
    bool startServer(const QStringList &arguments, QString *error);
    // Starts a --client role.
    bool startClient(const QStringList &arguments, QString *error);
    quint16 port() const { return m_port; }
    // The next line the child prints, as a JSON object (an "error" member is reported).
    std::optional<QJsonObject> readJson(int timeoutMs, QString *error);
    // Waits until the child exits on its own; false if it is still running after timeoutMs.
    bool waitForExit(int timeoutMs);
    void stop();

private:
    bool start(const QStringList &arguments, QString *error);

    QString m_scratchDir;
    QStringList m_wrapper;
    QProcess m_process;
    quint16 m_port = 0;
};

} // namespace bench

#endif
