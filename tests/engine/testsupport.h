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

// Reads plaintext through a buffer of chunk bytes, appending it to out, until read() returns
// anything but Status::Data; returns that last status. Each result is checked against the
// contract (see checkReadResult()).
inline Status readAll(Connection &connection, std::string &out, size_t chunk = 16384,
                      Io *io = nullptr)
{
    std::string buffer(chunk, '\0');
    for (int i = 0; i < (1 << 20); ++i) {
        const ReadResult result = connection.read(buffer.data(), buffer.size(), io);
        checkReadResult(connection, result);
        if (result.status != Status::Data)
            return result.status;
        out.append(buffer.data(), result.size);
    }
    return Status::Data; // a read() that never ends: the test fails on it
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
