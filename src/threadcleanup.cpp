// Releasing OpenSSL's per-thread state when a QThread that used TLS ends.
#include "threadcleanup_p.h"

#include <QCoreApplication>
#include <QThread>
#include <QThreadStorage>

#include <openssl/crypto.h>

namespace securesocket {

void releaseOpenSslStateWhenThreadEnds()
{
    struct Release
    {
        ~Release() { OPENSSL_thread_stop(); }
    };
    static QThreadStorage<Release *> release;
    if (!release.hasLocalData() && QCoreApplication::instance() &&
        QThread::currentThread() != QCoreApplication::instance()->thread())
        release.setLocalData(new Release);
}

} // namespace securesocket
