// Internal: the bridge from the public SecureConfiguration to the engine's settings.
#ifndef SECURESOCKET_SECURECONFIGURATION_P_H
#define SECURESOCKET_SECURECONFIGURATION_P_H

#include <SecureSocket/secureconfiguration.h>

#include "context.h"

#include <memory>
#include <string>

namespace securesocket {

// The engine's settings for this role (AutoVerifyPeer depends on it).
engine::Config toEngineConfig(const SecureConfiguration &configuration, engine::Role role);

// The engine context for these settings and role: what engine::ContextCache::shared() gives for
// toEngineConfig(configuration, role), remembered in the configuration's shared data so that every
// socket given a copy of it skips converting the settings and building the cache key. The
// files it names (CA, CRL, certificate, key, passphrase) are stat()ed again at most once per
// second: a file replaced on disk is used by connections started a second later. Thread-safe
// (copies of one configuration may be used in several threads). On failure returns null and
// sets *error. Once a context has loaded, changed files that fail to load do not replace it:
// it is returned with *error set to the failure (logged once), and the files are read again
// only when they change again.
std::shared_ptr<const engine::Context> engineContext(const SecureConfiguration &configuration,
                                                     engine::Role role, std::string *error);

// The same, but the files are looked at now, however recently they were looked at: what
// SecureServer::reloadConfiguration() does. *changed (if given) tells whether the context
// returned is another one than before: some file changed and loaded.
std::shared_ptr<const engine::Context> reloadEngineContext(const SecureConfiguration &configuration,
                                                           engine::Role role, std::string *error,
                                                           bool *changed = nullptr);

// Sockets configured one by one (SecureSocket's setters) each hold settings of their own.
// Given such a configuration, makes it share the data, and with it the contexts, of an equal
// one used recently by another socket, so that a thousand sockets with equal settings cost
// what one shared configuration costs. Configurations that hold a key or passphrase in memory
// are left alone: a secret is never kept for longer than its owner keeps it.
void shareWithEqualConfiguration(SecureConfiguration &configuration);

} // namespace securesocket

#endif
