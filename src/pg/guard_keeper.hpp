// guard_keeper.hpp: the launcher duty that keeps the guard's lists and tables in step.
#pragma once

namespace infra::pg {

// One keeper cycle (runs inside a transaction in the launcher): loads the lists after a
// restart, restores offence counts from the audit log once after a start, writes
// pending automatic blocks to infra.blocked_ips (with an audit row), deletes expired
// blocks, and periodically reloads the lists from the tables.
long guard_keeper_cycle();
void guard_keeper_extension_dropped();

}  // namespace infra::pg
