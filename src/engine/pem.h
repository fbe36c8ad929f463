// A strict PEM scanner (RFC 7468): splits a text into its blocks, or says which block is broken
// and how. OpenSSL's PEM readers stop quietly at the first block they cannot read, so a chain
// cut short or a file with garbage at its end would load as if it were whole. Knows neither
// OpenSSL nor Qt, so that it can be fuzzed on its own.
#ifndef SECURESOCKET_ENGINE_PEM_H
#define SECURESOCKET_ENGINE_PEM_H

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace securesocket::engine::pem {

struct Block
{
    std::string label;    // "CERTIFICATE", "PRIVATE KEY", "X509 CRL", ...
    std::string name;     // for messages: "certificate 2, line 23"
    size_t line = 0;      // of the BEGIN line, from 1
    size_t begin = 0;     // offset of the BEGIN line in the text
    size_t end = 0;       // offset just past the END line (and its line break)
    bool headers = false; // RFC 1421 headers (Proc-Type, DEK-Info: a legacy encrypted key)
};

struct ScanResult
{
    std::vector<Block> blocks; // in text order; empty when the text holds no block
    std::string error;         // empty when the whole text is well formed
};

// Splits text into blocks. Explanatory text before a block is allowed (RFC 7468 section 2; it
// is what `openssl x509 -text` and CA bundles write); anything else is an error: a BEGIN with
// no matching END, a body that is not base64, non-whitespace text after the last END line,
// binary data anywhere. The error names the block (or the line) and the problem, e.g.
// "certificate 2, line 23: no END line (the text is cut short)".
ScanResult scan(std::string_view text);

// The DER bytes of a block of text, as found by scan(); empty if its body is not valid base64.
std::string decode(std::string_view text, const Block &block);

// The kind of object a label stands for, in messages: "certificate", "private key", "CRL", or
// "PEM block 'LABEL'".
std::string kindOf(const std::string &label);

bool isCertificateLabel(const std::string &label);
bool isPrivateKeyLabel(const std::string &label);

} // namespace securesocket::engine::pem

#endif
