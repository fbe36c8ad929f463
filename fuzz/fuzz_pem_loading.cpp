// libFuzzer target: in-memory PEM given to ContextCache::get as a certificate chain, a private
// key (with and without passphrase) or CA certificates. Everything a context is built from in
// memory (and the PEM scanner) is reached this way.
//
// Input layout: byte 0 options, the rest is the PEM text.
//   bits 0-1  0 certificate chain (with the test server's key), 1 private key (with the test
//             server's certificate), 2 CA certificates, 3 both the chain and the key (the same
//             text: each reader picks its own blocks)
//   bit 2     the key passphrase is "fuzzing" (else none)
//   bit 3     a client context (else a server)
#include "fuzzsupport.h"

#include <cstddef>
#include <cstdint>

using namespace fuzzsupport;
using securesocket::engine::SecretString;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return -1;
    const uint8_t options = data[0];
    const std::string pem(reinterpret_cast<const char *>(data + 1), size - 1);
    Config config;
    config.useSystemCas = false;
    switch (options & 3) {
    case 0:
        config.certChainPem = pem;
        config.keyPem = pki().server.keyPem;
        break;
    case 1:
        config.certChainPem = pki().server.certPem;
        config.keyPem = pem;
        break;
    case 2:
        config.caPem = pem;
        break;
    case 3:
        config.certChainPem = pem;
        config.keyPem = pem;
        break;
    }
    if (options & 4)
        config.keyPassphrase = SecretString("fuzzing");
    const Role role = (options & 8) ? Role::Client : Role::Server;
    std::string error;
    ContextCache cache(1); // each input parsed afresh, nothing kept
    const auto context = cache.get(config, role, &error);
    requireEmptyErrorQueue("ContextCache::get");
    (void)context;
    return 0;
}
