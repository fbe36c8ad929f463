// Context's own state (the warnings already logged), the context cache, and the key it files
// contexts under: every setting, and the identity of every file, that changes the SSL_CTX.
#include "context.h"

#include "contextbuilder.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include <sys/stat.h>

namespace securesocket::engine {

std::string fileStamp(const std::string &path)
{
    if (path.empty())
        return "-";
    std::string stamp = path;
    struct stat info = {};
    if (::stat(path.c_str(), &info) == 0) {
        for (const auto value :
             {static_cast<long long>(info.st_size), static_cast<long long>(info.st_mtim.tv_sec),
              static_cast<long long>(info.st_mtim.tv_nsec), static_cast<long long>(info.st_ino),
              static_cast<long long>(info.st_dev)}) {
            stamp += '@';
            stamp += std::to_string(value);
        }
    } else {
        stamp += "@missing";
    }
    return stamp;
}

namespace {

// Every setting that changes the SSL_CTX, each as "length:value|" so that no two settings
// give the same key whatever characters paths or cipher strings hold.
std::string cacheKey(const Config &c, Role role)
{
    std::string key;
    key.reserve(256);
    const auto add = [&key](const std::string &part) {
        key += std::to_string(part.size());
        key += ':';
        key += part;
        key += '|';
    };
    add(role == Role::Client ? "C" : "S");
    add(fileStamp(c.caFile));
    add(c.caDirectory);
    add(sha256Hex(c.caPem));
    add(c.useSystemCas ? "1" : "0");
    add(fileStamp(c.crlFile));
    add(fileStamp(c.certChainFile));
    add(sha256Hex(c.certChainPem));
    add(fileStamp(c.keyFile));
    add(sha256Hex(c.keyPem));
    add(sha256Hex(c.keyPassphrase.value()));
    add(fileStamp(c.keyPassphraseFile));
    add(std::to_string(static_cast<int>(c.verifyMode)));
    add(std::to_string(c.minVersion));
    add(std::to_string(c.maxVersion));
    add(c.cipherList);
    add(c.cipherSuites);
    add(c.sessionResumption ? "1" : "0");
    add(std::to_string(c.ticketKeyLifetime));
    add(std::to_string(c.sessionTicketCount));
    for (const auto &protocol : c.alpn)
        add(protocol);
    add(c.keyLogFile); // the path only: the file grows with every connection
    add(c.keyLogFromEnvironment ? "1" : "0");
    add(c.usePsk ? "1" : "0");
    add(c.pskIdentity);
    add(sha256Hex(c.pskKey.value()));
    for (const auto &[identity, key] : c.serverPsks) {
        add(identity);
        add(sha256Hex(key.value()));
    }
    add(c.pskIdentityHint);
    for (const std::string &pin : c.pins)
        add(pin);
    add(c.pinsOnly ? "1" : "0");
    // OCSP stapling
    add(fileStamp(c.ocspResponseFile));
    add(c.ocspStaplingRequired ? "1" : "0");
    // SNI
    add(c.refuseUnknownServerName ? "1" : "0");
    add(std::to_string(c.extraChains.size()));
    for (const ChainConfig &chain : c.extraChains) {
        add(fileStamp(chain.certChainFile));
        add(sha256Hex(chain.certChainPem));
        add(fileStamp(chain.keyFile));
        add(sha256Hex(chain.keyPem));
        add(sha256Hex(chain.keyPassphrase.value()));
        add(fileStamp(chain.keyPassphraseFile));
    }
    // Session tickets across processes
    add(fileStamp(c.ticketKeyFile));
    return key;
}

} // namespace

const SecretString *Context::serverPsk(const std::string &identity) const
{
    for (const auto &[known, key] : m_serverPsks) {
        if (known == identity)
            return &key;
    }
    return nullptr;
}

std::vector<std::string> Context::warnings(std::time_t now) const
{
    std::vector<std::string> all;
    for (const IdentityCheck &identity : m_identities) {
        std::vector<std::string> some = identity.warnings(now);
        all.insert(all.end(), std::make_move_iterator(some.begin()),
                   std::make_move_iterator(some.end()));
    }
    if (m_ocspStaple) {
        for (std::string &warning : m_ocspStaple->warnings(now))
            all.push_back(std::move(warning));
    }
    return all;
}

std::string resumptionSettings(const Config &c, Role role)
{
    std::string text;
    const auto add = [&text](const std::string &part) {
        text += std::to_string(part.size());
        text += ':';
        text += part;
        text += '|';
    };
    add("resumption v1");
    add(role == Role::Client ? "C" : "S");
    add(std::to_string(static_cast<int>(c.verifyMode)));
    add(c.caFile);
    add(c.caDirectory);
    add(sha256Hex(c.caPem));
    add(c.useSystemCas ? "1" : "0");
    add(c.crlFile);
    add(c.certChainFile);
    add(sha256Hex(c.certChainPem));
    for (const ChainConfig &chain : c.extraChains) { // SNI: the chains a server may present
        add(chain.certChainFile);
        add(sha256Hex(chain.certChainPem));
    }
    add(c.ocspStaplingRequired ? "1" : "0"); // a client's session proves a checked response
    // Pre-shared keys authenticate too: a session of one identity never resumes as another's.
    add(c.usePsk ? "1" : "0");
    add(c.pskIdentity);
    add(sha256Hex(c.pskKey.value()));
    for (const auto &[identity, key] : c.serverPsks) {
        add(identity);
        add(sha256Hex(key.value()));
    }
    for (const std::string &pin : c.pins) // sessions are verified against these pins
        add(pin);
    add(c.pinsOnly ? "1" : "0");
    return text;
}

std::vector<std::string> Context::warningsToLog(std::time_t now) const
{
    std::vector<std::string> fresh;
    std::lock_guard<std::mutex> lock(m_warningsMutex);
    for (std::string &warning : warnings(now)) {
        if (std::find(m_loggedWarnings.begin(), m_loggedWarnings.end(), warning) ==
            m_loggedWarnings.end()) {
            m_loggedWarnings.push_back(warning);
            fresh.push_back(std::move(warning));
        }
    }
    return fresh;
}

ContextCache::ContextCache(size_t capacity, Clock clock, WallClock wallClock)
    : m_capacity(std::max<size_t>(capacity, 1)), m_clock(clock ? std::move(clock) : steadyClock()),
      m_wallClock(wallClock ? std::move(wallClock) : systemClock())
{}

ContextCache &ContextCache::shared()
{
    static ContextCache cache;
    return cache;
}

size_t ContextCache::size() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_entries.size();
}

std::shared_ptr<const Context> ContextCache::get(const Config &config, Role role,
                                                 std::string *error)
{
    const std::string key = cacheKey(config, role);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
            if (it->first == key) {
                m_entries.splice(m_entries.begin(), m_entries, it);
                return it->second;
            }
        }
    }

    std::shared_ptr<const Context> context =
        buildContext(config, role, key, {m_clock, m_wallClock}, error);
    if (!context)
        return nullptr;

    std::lock_guard<std::mutex> lock(m_mutex);
    // Another thread may have built the same context meanwhile: everyone shares the first.
    for (const auto &[existingKey, existing] : m_entries) {
        if (existingKey == key)
            return existing;
    }
    m_entries.emplace_front(key, context);
    if (m_entries.size() > m_capacity)
        m_entries.pop_back();
    return context;
}

} // namespace securesocket::engine
