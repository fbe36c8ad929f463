// libFuzzer target: the engine as a TLS server. The input is what a client sends (see
// fuzzsupport.h for its layout); the server has the fixed test certificate and key.
#include "fuzzsupport.h"

#include <cstddef>
#include <cstdint>

using namespace fuzzsupport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return -1; // not kept in the corpus
    const uint8_t options = data[0];
    Connection server(context(serverConfig(options), Role::Server), std::string());
    requireEmptyErrorQueue("Connection");
    Drive how;
    how.splitSeed = data[1];
    how.acceptVerification = options & 0x10;
    how.writeWhenReady = options & 0x20;
    how.shutdownAtEnd = options & 0x40;
    how.eofAtEnd = options & 0x80;
    drive(server, data + 2, size - 2, how);
    return 0;
}
