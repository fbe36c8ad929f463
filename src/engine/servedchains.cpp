// SNI on the OpenSSL side: the DNS names of a certificate, and the server_name callback that
// gives a connection the chains its client asked for. The matching itself is servernames.cpp's.
#include "servedchains.h"

#include "connectionhooks.h"
#include "context.h"
#include "servernames.h"

#include <algorithm>
#include <array>

namespace securesocket::engine {

std::vector<std::string> dnsNamesOf(X509 *leaf)
{
    std::vector<std::string> names;
    const GeneralNamesPtr all(static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; all && i < sk_GENERAL_NAME_num(all.get()); ++i) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(all.get(), i);
        if (name->type != GEN_DNS)
            continue;
        const ASN1_IA5STRING *text = name->d.dNSName;
        names.push_back(normalizeServerName(
            std::string_view(reinterpret_cast<const char *>(ASN1_STRING_get0_data(text)),
                             static_cast<size_t>(ASN1_STRING_length(text)))));
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

// The server_name callback of a context with several chains: the chains whose names match the
// client's server_name replace the default set on this connection's SSL (one per key type, the
// first configured winning; OpenSSL then picks among them by what the client supports). Costs
// one or two hash lookups, and for a name outside the default set a few reference counts per
// certificate: no parsing, no copying of keys.
int selectServedChains(SSL *ssl, int *alert, void *arg)
{
    const auto *context = static_cast<const Context *>(arg);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const std::vector<size_t> *matches = name ? context->m_serverNames.find(name) : nullptr;
    if (!matches) {
        if (!name || !context->m_refuseUnknownNames)
            return name ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_OK; // the default set
        if (ConnectionHooks *hooks = ConnectionHooks::of(ssl))
            hooks->refuseServerName(name);
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (*matches == context->m_defaultChains)
        return SSL_TLSEXT_ERR_OK;
    SSL_certs_clear(ssl);
    std::array<int, 8> typesUsed{}; // no allocation per handshake; far more than key types
    size_t used = 0;
    for (size_t index : *matches) {
        const Context::ServedChain &chain = context->m_chains[index];
        if (used == typesUsed.size() || std::find(typesUsed.begin(), typesUsed.begin() + used,
                                                  chain.keyType) != typesUsed.begin() + used)
            continue;
        typesUsed[used++] = chain.keyType;
        if (SSL_use_cert_and_key(ssl, chain.leaf.get(), chain.key.get(), chain.chain.get(), 1) !=
            1) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

} // namespace securesocket::engine
