// list_sync.hpp: keeping the shared-memory blocklist/allowlist equal to their tables.
// See list_sync.cpp for the protocol (commit-time apply, generation-checked loads).
#pragma once

#include "core/ip_address.hpp"
#include "pg/guard_state.hpp"
#include "pg/pg_includes.hpp"

namespace infra::pg {

// Registers the transaction callbacks; called once from _PG_init.
void register_list_sync_callbacks();

// Queues a change to apply to shared memory if and when this transaction commits.
void queue_list_change(const ListChange& change);

// CREATE EXTENSION ran in this transaction: at commit, drop whatever the lists held
// (an earlier installation's entries) and wake the launcher.
void note_extension_created();

// Reads both tables and installs them; `replace` also drops entries the tables lack.
void load_lists(bool replace);

// Checks preload and database, and loads the lists on first use after a (re)start.
void ensure_guard_ready();

// inet/cidr Datum -> core types (IPv4 stored IPv4-mapped).
core::Network network_from_datum(Datum value);
core::IpAddress address_from_datum(Datum value);

}  // namespace infra::pg
