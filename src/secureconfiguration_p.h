// Internal: the bridge from the public SecureConfiguration to the engine's settings.
#ifndef SECURESOCKET_SECURECONFIGURATION_P_H
#define SECURESOCKET_SECURECONFIGURATION_P_H

#include <SecureSocket/secureconfiguration.h>

#include "context.h"

namespace securesocket {

engine::Config toEngineConfig(const SecureConfiguration &configuration);

} // namespace securesocket

#endif
