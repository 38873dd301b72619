// list_sync.cpp: keeps the shared-memory blocklist and allowlist equal to the tables
// infra.blocked_ips and infra.allowed_ips, which are the authority.
//
//  - Row triggers on both tables queue each change in this backend (per
//    subtransaction); at COMMIT the queue is applied to shared memory, so a block is
//    effective in every backend the moment its transaction commits, and a rolled-back
//    one never is. TRUNCATE queues a full reload. PREPARE TRANSACTION is refused.
//  - The first check in a fresh server (after start or crash) loads both tables; the
//    keeper also reloads them every infra.guard_resync_interval to heal any drift.
//  - Loading reads with the latest snapshot and installs only if no change was applied
//    meanwhile (lists_generation), so a concurrent commit is never lost.
#include "pg/list_sync.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/errors.hpp"
#include "pg/firewall.hpp"
#include "pg/guard_state.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "access/htup_details.h"
}

namespace infra::pg {

namespace {

struct QueuedChange {
    SubTransactionId subxact;
    ListChange change;
};

std::vector<QueuedChange> queued;  // this backend's uncommitted list changes
SubTransactionId reload_subxact = InvalidSubTransactionId;
// CREATE EXTENSION: at commit, forget every list entry (they belonged to an earlier
// installation) and wake the launcher so it starts its duties at once.
SubTransactionId created_subxact = InvalidSubTransactionId;

bool has_pending_work() {
    return !queued.empty() || reload_subxact != InvalidSubTransactionId ||
           created_subxact != InvalidSubTransactionId;
}

void forget_pending_work() {
    queued.clear();
    reload_subxact = InvalidSubTransactionId;
    created_subxact = InvalidSubTransactionId;
}

bool database_checked = false;

// One list entry from a row's values (the table row, or a row read back by load).
ListChange list_change(ListKind list, bool remove, Datum network, Datum expires, bool expires_null,
                       Datum created, bool created_null, bool is_auto) {
    ListChange change{};
    change.list = list;
    change.remove = remove;
    core::Network net = network_from_datum(network);
    change.entry.address = net.address;
    change.entry.prefix = net.prefix;
    change.entry.expires_us = expires_null ? core::kNever : DatumGetTimestampTz(expires);
    change.entry.created_us = created_null ? 0 : DatumGetTimestampTz(created);
    if (is_auto) change.entry.source = static_cast<uint8_t>(core::BlockSource::kAuto);
    return change;
}

ListChange change_from_tuple(ListKind list, HeapTuple tuple, TupleDesc desc, bool remove) {
    bool network_null = false, expires_null = false, created_null = false, source_null = true;
    Datum network = heap_getattr(tuple, SPI_fnumber(desc, "network"), desc, &network_null);
    Datum expires = heap_getattr(tuple, SPI_fnumber(desc, "expires_at"), desc, &expires_null);
    Datum created = heap_getattr(tuple, SPI_fnumber(desc, "created_at"), desc, &created_null);
    Datum source = 0;
    if (list == ListKind::kBlock) {
        source = heap_getattr(tuple, SPI_fnumber(desc, "source"), desc, &source_null);
    }
    bool is_auto = !source_null && std::strcmp(TextDatumGetCString(source), "auto") == 0;
    return list_change(list, remove, network, expires, expires_null, created, created_null,
                       is_auto);
}

void on_transaction_event(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_PRE_PREPARE:
            if (has_pending_work()) {
                ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                                errmsg("cannot PREPARE a transaction that changed the infra_ext "
                                       "blocklist or allowlist"),
                                errhint("Commit such changes in an ordinary transaction.")));
            }
            break;
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (created_subxact != InvalidSubTransactionId) lists_reset();
            if (!queued.empty() || reload_subxact != InvalidSubTransactionId) {
                // Runs after the commit is durable: must not raise. lists_apply does not
                // allocate; a full set marks the lists unloaded so they get reloaded.
                std::vector<ListChange> changes;
                try {
                    changes.reserve(queued.size());
                    for (const QueuedChange& q : queued) changes.push_back(q.change);
                    lists_apply(changes, reload_subxact != InvalidSubTransactionId);
                } catch (...) {
                    lists_apply({}, true);
                }
            }
            if (created_subxact != InvalidSubTransactionId) keeper_wake();
            forget_pending_work();
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            forget_pending_work();
            break;
        default:
            break;
    }
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId subxact, SubTransactionId,
                             void*) {
    if (event != SUBXACT_EVENT_ABORT_SUB) return;
    // Every change queued at or after this subtransaction's start belongs to it or to
    // one of its children: all are rolled back with it.
    queued.erase(std::remove_if(queued.begin(), queued.end(),
                                [&](const QueuedChange& q) { return q.subxact >= subxact; }),
                 queued.end());
    if (reload_subxact != InvalidSubTransactionId && reload_subxact >= subxact) {
        reload_subxact = InvalidSubTransactionId;
    }
    if (created_subxact != InvalidSubTransactionId && created_subxact >= subxact) {
        created_subxact = InvalidSubTransactionId;
    }
}

// Reads both tables with the latest snapshot.
std::vector<ListChange> read_list_tables() {
    static const char* const kQuery =
        "SELECT network, expires_at, created_at, source, true FROM infra.blocked_ips "
        "UNION ALL "
        "SELECT network, expires_at, created_at, NULL, false FROM infra.allowed_ips";
    struct Row {
        bool block;
        Datum network, expires, created;
        bool expires_null, created_null, is_auto;
    };
    uint64 count = 0;
    Row* rows = pg_call([&]() -> Row* {
        SPI_connect();
        SPIPlanPtr plan = SPI_prepare(kQuery, 0, nullptr);
        if (plan == nullptr) elog(ERROR, "infra_ext: cannot plan %s", kQuery);
        int rc = SPI_execute_snapshot(plan, nullptr, nullptr, GetLatestSnapshot(), InvalidSnapshot,
                                      true, false, 0);
        if (rc != SPI_OK_SELECT) elog(ERROR, "infra_ext: reading the lists failed (%d)", rc);
        count = SPI_processed;
        Row* out = static_cast<Row*>(
            MemoryContextAllocZero(CurTransactionContext, sizeof(Row) * (count + 1)));
        TupleDesc desc = SPI_tuptable->tupdesc;
        for (uint64 i = 0; i < count; ++i) {
            HeapTuple tuple = SPI_tuptable->vals[i];
            bool isnull = false;
            out[i].block = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
            // Copy the network out of SPI's memory before SPI_finish frees it.
            Datum network = SPI_getbinval(tuple, desc, 1, &isnull);
            MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);
            out[i].network = PointerGetDatum(PG_DETOAST_DATUM_COPY(network));
            MemoryContextSwitchTo(old);
            out[i].expires = SPI_getbinval(tuple, desc, 2, &out[i].expires_null);
            out[i].created = SPI_getbinval(tuple, desc, 3, &out[i].created_null);
            Datum source = SPI_getbinval(tuple, desc, 4, &isnull);
            out[i].is_auto = !isnull && std::strcmp(TextDatumGetCString(source), "auto") == 0;
        }
        SPI_finish();
        return out;
    });
    std::vector<ListChange> changes;
    changes.reserve(count);
    for (uint64 i = 0; i < count; ++i) {
        const Row& r = rows[i];
        changes.push_back(list_change(r.block ? ListKind::kBlock : ListKind::kAllow, false,
                                      r.network, r.expires, r.expires_null, r.created,
                                      r.created_null, r.is_auto));
    }
    return changes;
}

}  // namespace

core::Network network_from_datum(Datum value) {
    inet* in = DatumGetInetPP(value);
    const unsigned char* bytes = ip_addr(in);
    if (ip_family(in) == PGSQL_AF_INET) {
        return core::Network::of(core::IpAddress::from_v4(bytes), ip_bits(in));
    }
    return core::Network::of_v6(core::IpAddress::from_v6(bytes), ip_bits(in));
}

core::IpAddress address_from_datum(Datum value) {
    inet* in = DatumGetInetPP(value);
    const unsigned char* bytes = ip_addr(in);
    return ip_family(in) == PGSQL_AF_INET ? core::IpAddress::from_v4(bytes)
                                          : core::IpAddress::from_v6(bytes);
}

void register_list_sync_callbacks() {
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

// Whether this backend is connected to infra.database. infra_ext installed in any other
// database (a restored copy of a backup, a verification scratch database) must never
// touch the shared lists: its tables are not the guard's authority.
bool in_guard_database() {
    static int known = -1;
    if (known < 0) {
        const char* here = pg_call([] { return get_database_name(MyDatabaseId); });
        known = here != nullptr && std::strcmp(here, setting_database) == 0 ? 1 : 0;
    }
    return known == 1;
}

void note_extension_created() {
    if (!in_guard_database()) return;
    if (created_subxact == InvalidSubTransactionId) {
        created_subxact = GetCurrentSubTransactionId();
    }
}

void queue_list_change(const ListChange& change) {
    queued.push_back(QueuedChange{GetCurrentSubTransactionId(), change});
}

void load_lists(bool replace) {
    for (int attempt = 0; attempt < 20; ++attempt) {
        uint64_t generation = lists_generation();
        std::vector<ListChange> rows = read_list_tables();
        uint32_t failures = 0;
        if (lists_install(rows, generation, replace, &failures)) {
            if (failures > 0) {
                pg_call([&] {
                    ereport(WARNING,
                            (errmsg("infra_ext: %u blocklist/allowlist rows do not fit in "
                                    "shared memory",
                                    failures),
                             errhint("Raise infra.ddos_max_blocks or infra.ddos_max_allowed "
                                     "and restart the server.")));
                });
            }
            return;
        }
    }
    throw core::Error(core::ErrorKind::kInternal,
                      "the blocklist changed during each of 20 attempts to load it");
}

void ensure_guard_ready() {
    require_guard_loaded();
    if (!database_checked) {
        const char* here = pg_call([] { return get_database_name(MyDatabaseId); });
        if (here == nullptr || std::strcmp(here, setting_database) != 0) {
            throw core::Error(core::ErrorKind::kConflict,
                              std::string("infra_ext's guard lives in database \"") +
                                  setting_database + "\" (infra.database), not in \"" +
                                  (here ? here : "?") + "\"",
                              "Connect to that database, or set infra.database to this one "
                              "and restart the server.");
        }
        database_checked = true;
    }
    if (!lists_loaded()) load_lists(false);
}

Datum list_changed_trigger(FunctionCallInfo fcinfo) {
    if (!CALLED_AS_TRIGGER(fcinfo)) {
        throw core::Error(core::ErrorKind::kInternal,
                          "infra._guard_list_changed() may only be called as a trigger");
    }
    auto* data = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!in_guard_database()) return PointerGetDatum(nullptr);
    ListKind list = std::strcmp(data->tg_trigger->tgargs[0], "block") == 0 ? ListKind::kBlock
                                                                           : ListKind::kAllow;
    TriggerEvent event = data->tg_event;
    if (TRIGGER_FIRED_BY_TRUNCATE(event)) {
        if (reload_subxact == InvalidSubTransactionId) {
            reload_subxact = GetCurrentSubTransactionId();
        }
        return PointerGetDatum(nullptr);
    }
    TupleDesc desc = data->tg_relation->rd_att;
    if (TRIGGER_FIRED_BY_DELETE(event) || TRIGGER_FIRED_BY_UPDATE(event)) {
        queue_list_change(
            pg_call([&] { return change_from_tuple(list, data->tg_trigtuple, desc, true); }));
    }
    if (TRIGGER_FIRED_BY_INSERT(event)) {
        queue_list_change(
            pg_call([&] { return change_from_tuple(list, data->tg_trigtuple, desc, false); }));
    }
    if (TRIGGER_FIRED_BY_UPDATE(event)) {
        queue_list_change(
            pg_call([&] { return change_from_tuple(list, data->tg_newtuple, desc, false); }));
    }
    return PointerGetDatum(nullptr);
}

}  // namespace infra::pg

INFRA_SQL_FUNCTION(infra_guard_list_changed, infra::pg::list_changed_trigger)
