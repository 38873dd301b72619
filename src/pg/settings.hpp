// settings.hpp: infra_ext's GUCs (prefix "infra.", reserved).
//
// Values live in the plain globals below, which PostgreSQL's GUC machinery writes on
// startup and on SIGHUP in each process; nothing here is shared memory. The guard
// reads them through guard_settings() once per call.
#pragma once

#include "core/rate_limiter.hpp"

namespace infra::pg {

extern char* setting_database;       // infra.database (postmaster)
extern int setting_max_tracked_ips;  // infra.ddos_max_tracked_ips (postmaster)
extern int setting_max_blocks;       // infra.ddos_max_blocks (postmaster)
extern int setting_max_allowed;      // infra.ddos_max_allowed (postmaster)
extern int setting_keeper_resync_s;  // infra.guard_resync_interval

// Defines every GUC; called once from _PG_init.
void define_settings();

// The guard's settings as they stand in this process now.
core::GuardSettings guard_settings();

}  // namespace infra::pg
