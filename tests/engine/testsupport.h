// Qt Test helpers shared by the engine tests.
#ifndef SECURESOCKET_TESTS_TESTSUPPORT_H
#define SECURESOCKET_TESTS_TESTSUPPORT_H

#include "enginepair.h"

#include <QTest>

#include <string>

namespace enginetest {

// "client: phase Data, ...; server: phase Failed, error ...", for failure messages.
inline std::string state(const EnginePair &pair)
{
    return "client: " + pair.client.describe() + "; server: " + pair.server.describe();
}

// A data column "version" with one row per TLS version.
inline void addVersionColumn()
{
    QTest::addColumn<int>("version");
    QTest::newRow("TLS 1.2") << TLS1_2_VERSION;
    QTest::newRow("TLS 1.3") << TLS1_3_VERSION;
}

// "unknown-issuer, hostname-mismatch": compared as text, so that a failure shows both lists.
inline QString codes(const std::vector<securesocket::engine::VerifyFailure> &failures)
{
    return failureNames(failures).join(", ");
}

} // namespace enginetest

#endif
