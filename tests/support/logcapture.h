// Test helpers for Qt tests: the messages of one logging category, captured instead of printed,
// and a file replaced in one step. Header-only: testpki itself stays free of Qt.
#ifndef SECURESOCKET_TESTS_LOGCAPTURE_H
#define SECURESOCKET_TESTS_LOGCAPTURE_H

#include "testpki.h"

#include <QByteArray>
#include <QFile>
#include <QList>
#include <QPair>
#include <QString>
#include <QtGlobal>

#include <string>

namespace testsupport {

// While it lives, messages of the category are kept (with their type) instead of printed; the
// rest go to the previous handler. One at a time.
class CategoryLog
{
public:
    explicit CategoryLog(const char *category)
    {
        s_category = category;
        s_previous = qInstallMessageHandler(handler);
    }
    ~CategoryLog()
    {
        qInstallMessageHandler(s_previous);
        s_messages.clear();
    }
    CategoryLog(const CategoryLog &) = delete;
    CategoryLog &operator=(const CategoryLog &) = delete;

    static QList<QPair<QtMsgType, QString>> &messages() { return s_messages; }

private:
    static void handler(QtMsgType type, const QMessageLogContext &context, const QString &text)
    {
        if (context.category && s_category == context.category)
            s_messages.append({type, text});
        else
            s_previous(type, context, text);
    }
    static inline QByteArray s_category;
    static inline QtMessageHandler s_previous = nullptr;
    static inline QList<QPair<QtMsgType, QString>> s_messages;
};

// Replaces path with a file holding content in one step (write, then rename), as tools that
// renew certificates do.
inline void replaceFile(const QString &path, const std::string &content)
{
    testpki::writeFile((path + ".new").toStdString(), content);
    QFile::remove(path);
    QFile::rename(path + ".new", path);
}

} // namespace testsupport

#endif
