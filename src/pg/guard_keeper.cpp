// guard_keeper.cpp: persistence and expiry of blocks, run by the launcher.
//
// Automatic blocks are made by backends in shared memory (effective at once) and
// flagged pending_persist; the keeper, woken through its latch, writes them to
// infra.blocked_ips. The row trigger then applies the row back to shared memory at
// commit, which clears the flag. Expired rows are deleted (their removal reaches
// shared memory the same way); expired entries never match in between.
#include "pg/guard_keeper.hpp"

#include <string>

#include "core/time_format.hpp"
#include "pg/firewall.hpp"
#include "pg/guard_state.hpp"
#include "pg/list_sync.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"

namespace infra::pg {

namespace {

int64_t last_resync_us = 0;

// The advisory lock (class 7471) that serialises persisting an automatic block with
// unblock_ip() of the same network.
constexpr const char* kLockNetwork = "SELECT pg_advisory_xact_lock(7471, hashtext($1::cidr::text))";

constexpr const char* kPersistAutoBlock =
    "WITH saved AS ("
    "  INSERT INTO infra.blocked_ips AS b"
    "    (network, reason, source, created_at, expires_at, created_by)"
    "  VALUES ($1::cidr, $2, 'auto', $3, $4, 'infra launcher')"
    "  ON CONFLICT (network) DO UPDATE SET"
    "    expires_at = CASE WHEN b.expires_at IS NULL OR b.expires_at >= excluded.expires_at"
    "                      THEN b.expires_at ELSE excluded.expires_at END,"
    "    reason = CASE WHEN b.expires_at IS NULL OR b.expires_at >= excluded.expires_at"
    "                  THEN b.reason ELSE excluded.reason END"
    "  RETURNING network, expires_at)"
    " INSERT INTO infra.audit_log (session_role, acting_role, action, target, details)"
    " SELECT 'infra launcher', 'infra launcher', 'auto_block', network::text,"
    "        jsonb_build_object('expires_at', expires_at, 'offence', $5::int,"
    "                           'reason', $2)"
    " FROM saved";

constexpr const char* kExpire =
    "WITH gone AS ("
    "  DELETE FROM infra.blocked_ips WHERE expires_at <= now()"
    "  RETURNING network, source, expires_at),"
    " gone_allow AS ("
    "  DELETE FROM infra.allowed_ips WHERE expires_at <= now() RETURNING network)"
    " INSERT INTO infra.audit_log (session_role, acting_role, action, target, details)"
    " SELECT 'infra launcher', 'infra launcher', 'block_expired', network::text,"
    "        jsonb_build_object('source', source, 'expired_at', expires_at) FROM gone"
    " UNION ALL"
    " SELECT 'infra launcher', 'infra launcher', 'allow_expired', network::text, '{}'::jsonb"
    " FROM gone_allow";

// Offences recorded in the audit log within infra.ddos_max_block_duration: after a
// restart a repeat offender's next block still doubles.
constexpr const char* kRecentOffences =
    "SELECT target::cidr, least(max((details->>'offence')::int), 255)"
    "  FROM infra.audit_log"
    " WHERE action = 'auto_block'"
    "   AND at > now() - current_setting('infra.ddos_max_block_duration')::interval"
    " GROUP BY 1";

void seed_offences() {
    struct Offender {
        Datum network;
        int32 offences;
    };
    uint64 count = 0;
    Offender* rows = pg_call([&]() -> Offender* {
        if (SPI_execute(kRecentOffences, true, 0) != SPI_OK_SELECT) {
            elog(ERROR, "infra_ext: reading recent offences failed");
        }
        count = SPI_processed;
        auto* out = static_cast<Offender*>(
            MemoryContextAllocZero(CurTransactionContext, sizeof(Offender) * (count + 1)));
        for (uint64 i = 0; i < count; ++i) {
            bool isnull = false;
            Datum network = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
            MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);
            out[i].network = PointerGetDatum(PG_DETOAST_DATUM_COPY(network));
            MemoryContextSwitchTo(old);
            out[i].offences = DatumGetInt32(
                SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
        }
        return out;
    });
    int64_t now = GetCurrentTimestamp();
    for (uint64 i = 0; i < count; ++i) {
        tracked_seed_offences(network_from_datum(rows[i].network),
                              static_cast<uint8_t>(rows[i].offences), now);
    }
    mark_offences_seeded();
}

// Writes one pending automatic block to the table. It first takes the network's
// advisory lock, which unblock_ip() takes too, and then checks that the block is still
// pending: an unblock that committed in between removed it from shared memory, and
// writing it now would bring it back.
void persist_auto_block(const core::NetworkEntry& e) {
    core::Network network{e.address, e.prefix};
    std::string target = network.to_string();
    std::string reason =
        "automatic: suspicious activity (offence " + std::to_string(e.offence) + ")";
    pg_call([&] {
        Oid types[1] = {TEXTOID};
        Datum values[1] = {CStringGetTextDatum(target.c_str())};
        if (SPI_execute_with_args(kLockNetwork, 1, types, values, nullptr, false, 0) !=
            SPI_OK_SELECT) {
            elog(ERROR, "infra_ext: locking %s failed", target.c_str());
        }
    });
    bool pending = false;
    if (!lists_contains(ListKind::kBlock, network, &pending) || !pending) return;
    pg_call([&] {
        Oid types[5] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
        Datum values[5] = {CStringGetTextDatum(target.c_str()), CStringGetTextDatum(reason.c_str()),
                           TimestampTzGetDatum(e.created_us), TimestampTzGetDatum(e.expires_us),
                           Int32GetDatum(e.offence)};
        int rc = SPI_execute_with_args(kPersistAutoBlock, 5, types, values, nullptr, false, 0);
        if (rc != SPI_OK_INSERT) elog(ERROR, "infra_ext: persisting an automatic block failed");
    });
}

}  // namespace

long guard_keeper_cycle() {
    if (!lists_loaded()) load_lists(false);
    pg_call([] { SPI_connect(); });
    if (!offences_seeded()) seed_offences();
    for (const core::NetworkEntry& e : lists_pending_auto_blocks()) persist_auto_block(e);
    pg_call([] {
        if (SPI_execute(kExpire, false, 0) != SPI_OK_INSERT) {
            elog(ERROR, "infra_ext: expiring blocks failed");
        }
        SPI_finish();
    });
    int64_t now = GetCurrentTimestamp();
    if (now - last_resync_us >= static_cast<int64_t>(setting_keeper_resync_s) * 1000000) {
        load_lists(true);
        lists_remove_expired(now);
        last_resync_us = now;
    }
    return 1000;
}

void guard_keeper_extension_dropped() {
    lists_reset();
    last_resync_us = 0;
}

}  // namespace infra::pg
