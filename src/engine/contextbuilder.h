// Building one context (its SSL_CTX and what the engine keeps beside it) from plain settings.
// ContextCache calls it; nothing else should.
#ifndef SECURESOCKET_ENGINE_CONTEXTBUILDER_H
#define SECURESOCKET_ENGINE_CONTEXTBUILDER_H

#include "context.h"

#include <memory>
#include <string>

namespace securesocket::engine {

// The clocks of a server's ticket keys: random keys rotate by clock, keys derived from a
// ticket key file by wallClock.
struct TicketClocks
{
    Clock clock;
    WallClock wallClock;
};

// The context for config and role. settingsKey is the cache's key of them (a server's session
// id context is derived from it, so that sessions of other settings never resume here; with a
// ticket key file, from resumptionSettings(), equal in every process); clocks time a server's
// ticket keys. On failure returns null and sets *error to a sentence naming the file and the
// cause.
std::shared_ptr<Context> buildContext(const Config &config, Role role,
                                      const std::string &settingsKey, const TicketClocks &clocks,
                                      std::string *error);

} // namespace securesocket::engine

#endif
