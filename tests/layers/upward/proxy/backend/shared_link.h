// Fixture for the layer check: backend including its peer, sentinel. Never compiled.
#pragma once

#include "proxy/sentinel/topology.h"
