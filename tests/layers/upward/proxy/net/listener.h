// Fixture for the layer check (tests/CMakeLists.txt, layers_*): net including the session
// layer, as the listener did before issue 23. Never compiled.
#pragma once

#include "proxy/net/tcp_stream.h"
#include "proxy/session/router.h"
