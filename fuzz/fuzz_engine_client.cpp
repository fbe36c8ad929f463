// libFuzzer target: the engine as a TLS client. It sends its real ClientHello first; the input
// is what the server answers (see fuzzsupport.h for its layout). The certificates a recorded
// server sent are not from this process's test root: with verification on they fail and the
// pause is resolved by option bit 4, so both the verified and the forgiven paths are reached.
#include "fuzzsupport.h"

#include <cstddef>
#include <cstdint>

using namespace fuzzsupport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return -1;
    const uint8_t options = data[0];
    Connection client(context(clientConfig(options), Role::Client), "localhost");
    requireEmptyErrorQueue("Connection");
    client.process(); // makes the ClientHello, which the driver's first step takes
    requireEmptyErrorQueue("process");
    Drive how;
    how.splitSeed = data[1];
    how.acceptVerification = options & 0x10;
    how.writeWhenReady = true;
    how.eofAtEnd = options & 0x80;
    drive(client, data + 2, size - 2, how);
    return 0;
}
