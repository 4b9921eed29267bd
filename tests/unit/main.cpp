// Catch2 v2 runner for every unit test in tests/unit/.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
