// libFuzzer target: a client session blob (SecureSocket::setSessionTicket(), see
// sessionblob.h) given to importSession() and isSessionBlob(), and, when it is taken, to a
// client Connection that offers it. The input is the blob; half the inputs are checked against
// the binding the blob names (so the DER inside is parsed and used), half against another.
#include "fuzzsupport.h"

#include "connection.h"
#include "sessionblob.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace fuzzsupport;
using securesocket::engine::SessionImport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view blob(reinterpret_cast<const char *>(data), size);
    const bool wellFormed = securesocket::engine::isSessionBlob(blob);
    // The binding as the blob states it (bytes 7 .. 7 + size), when there is one.
    std::string binding = "other";
    if ((size & 1) == 0 && size >= 7) {
        const size_t length = (size_t(data[5]) << 8) | data[6];
        if (7 + length <= size)
            binding.assign(reinterpret_cast<const char *>(data) + 7, length);
    }
    SessionImport result = SessionImport::None;
    const auto session = securesocket::engine::importSession(blob, binding, &result);
    requireEmptyErrorQueue("importSession");
    if (session && (result != SessionImport::Used || !wellFormed))
        __builtin_trap(); // a session only from a well-formed blob, and then "used"
    if (!wellFormed && result != SessionImport::Malformed && size > 0)
        __builtin_trap();
    return 0;
}
