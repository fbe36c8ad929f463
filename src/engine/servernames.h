// Which of a server's certificates answers a client's server_name (SNI): the DNS names of each
// certificate's subjectAltName, matched as RFC 6125 says (case-insensitive; a wildcard only as
// the whole left-most label, standing for exactly one label, never for an IP address; an exact
// name beats a wildcard). Knows neither OpenSSL nor Qt, so that it can be tested on its own.
#ifndef SECURESOCKET_ENGINE_SERVERNAMES_H
#define SECURESOCKET_ENGINE_SERVERNAMES_H

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace securesocket::engine {

// The name in the form names are compared in: ASCII lower case, one trailing dot removed.
std::string normalizeServerName(std::string_view name);

// Whether name (a client's server_name) looks like an IPv4 or IPv6 address, which a wildcard
// never matches (clients should not send one as SNI; some do).
bool isIpAddressText(std::string_view name);

// Whether one subjectAltName DNS entry (pattern) matches name, by the rules above. A pattern
// with '*' anywhere but as the whole left-most label, or a wildcard with fewer than two labels
// after it ("*.test", "*"), matches nothing but itself spelled the same way.
bool serverNameMatches(std::string_view pattern, std::string_view name);

// Every name of every certificate, made once per context, so that a handshake costs one or two
// hash lookups whatever the number of certificates.
class ServerNameIndex
{
public:
    // The certificate numbered item has the DNS name pattern (exact or wildcard).
    void add(std::string_view pattern, size_t item);

    // The certificates that match name, in the order they were added: those with the name
    // itself if any, otherwise those with a wildcard that matches it; null for none.
    const std::vector<size_t> *find(std::string_view name) const;

    bool empty() const { return m_exact.empty() && m_wildcard.empty(); }

private:
    static void append(std::vector<size_t> &items, size_t item);

    std::unordered_map<std::string, std::vector<size_t>> m_exact;
    // Keyed by what follows "*.": "beta.test" for "*.beta.test".
    std::unordered_map<std::string, std::vector<size_t>> m_wildcard;
};

} // namespace securesocket::engine

#endif
