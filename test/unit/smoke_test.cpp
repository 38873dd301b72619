#include <gtest/gtest.h>
#include "core/ip_address.hpp"
TEST(Smoke, Parse) { EXPECT_TRUE(infra::core::IpAddress::parse("10.0.0.1")); }
