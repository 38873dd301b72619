// guard_sql.cpp: the request guard's SQL-callable C functions.
//
// Each enters C++ through INFRA_SQL_FUNCTION (firewall 1). check_request is the hot
// path: its frames hold only trivially destructible values, so it calls PostgreSQL
// directly; the others build JSON with nlohmann::json and hand it to jsonb_in through
// pg_call (firewall 2).
#include <cctype>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/time_format.hpp"
#include "pg/firewall.hpp"
#include "pg/guard_state.hpp"
#include "pg/list_sync.hpp"
#include "pg/pg_includes.hpp"
#include "pg/settings.hpp"

namespace infra::pg {

static_assert(std::is_trivially_destructible_v<core::Verdict>);
static_assert(std::is_trivially_destructible_v<core::IpAddress>);
static_assert(std::is_trivially_destructible_v<core::TrackedTable>);
static_assert(std::is_trivially_destructible_v<core::NetworkSet>);

namespace {

using core::Error;
using core::ErrorKind;
using json = nlohmann::json;

constexpr int64_t kMicros = 1000000;

// The result descriptor and the reason texts, built once per process: the result type
// is fixed (infra.request_verdict), and the hot path must not rebuild them per execution
// (a prepared statement gets a fresh fn_extra each time it runs).
struct CheckRequestCache {
    Oid type_oid;
    TupleDesc desc;
    Datum reasons[core::kReasonCount];
};
CheckRequestCache check_cache = {InvalidOid, nullptr, {}};

const CheckRequestCache& check_request_cache(FunctionCallInfo fcinfo) {
    Oid type_oid = get_fn_expr_rettype(fcinfo->flinfo);
    if (check_cache.desc != nullptr && check_cache.type_oid == type_oid) return check_cache;
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    TupleDesc desc = nullptr;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
        elog(ERROR, "infra.check_request must return a composite type");
    }
    TupleDesc copy = CreateTupleDescCopy(desc);
    copy->tdtypeid = desc->tdtypeid;
    copy->tdtypmod = desc->tdtypmod;
    for (int r = 0; r < core::kReasonCount; ++r) {
        check_cache.reasons[r] =
            CStringGetTextDatum(core::reason_name(static_cast<core::Reason>(r)));
    }
    MemoryContextSwitchTo(old);
    if (check_cache.desc != nullptr) FreeTupleDesc(check_cache.desc);
    check_cache.desc = copy;
    check_cache.type_oid = type_oid;
    return check_cache;
}

core::IpAddress required_ip(FunctionCallInfo fcinfo, int arg) {
    if (PG_ARGISNULL(arg)) {
        throw Error(ErrorKind::kInvalidArgument, "ip must not be NULL",
                    "Pass the client's address, for example '203.0.113.7'.");
    }
    return address_from_datum(PG_GETARG_DATUM(arg));
}

core::Network required_network(FunctionCallInfo fcinfo, int arg, const char* name) {
    if (PG_ARGISNULL(arg)) {
        throw Error(ErrorKind::kInvalidArgument, std::string(name) + " must not be NULL",
                    "Pass an address or a range, for example '203.0.113.0/24'.");
    }
    return network_from_datum(PG_GETARG_DATUM(arg));
}

Datum jsonb_from(const json& value) {
    std::string text = value.dump();
    return pg_call([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
}

json timestamp_json(int64_t pg_us) {
    if (pg_us == core::kNever || pg_us == 0) return nullptr;
    return core::iso8601_utc(core::unix_seconds_from_pg(pg_us));
}

json seconds_json(uint32_t seconds_since_pg_epoch) {
    if (seconds_since_pg_epoch == 0) return nullptr;
    return core::iso8601_utc(seconds_since_pg_epoch + core::kPostgresEpochUnixSeconds);
}

json network_entry_json(const core::NetworkEntry& e) {
    core::Network network{e.address, e.prefix};
    json out = {{"network", network.to_string()}, {"until", timestamp_json(e.expires_us)}};
    out["permanent"] = e.expires_us == core::kNever;
    return out;
}

Datum check_request(FunctionCallInfo fcinfo) {
    core::IpAddress ip = required_ip(fcinfo, 0);
    int64_t bytes = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
    if (bytes < 0) {
        throw Error(ErrorKind::kInvalidArgument,
                    "request_bytes must not be negative (got " + std::to_string(bytes) + ")",
                    "Pass the size of the request body in bytes, or 0 when there is none.");
    }
    ensure_guard_ready();
    const CheckRequestCache& cache = check_request_cache(fcinfo);
    int64_t now = GetCurrentTimestamp();
    int64_t block_expires = 0;
    core::Verdict verdict = guard_check(ip, bytes, now, &block_expires);

    Datum values[5];
    bool nulls[5] = {false, false, false, false, false};
    values[0] = BoolGetDatum(verdict.allowed);
    values[1] = cache.reasons[static_cast<int>(verdict.reason)];
    if (verdict.reason == core::Reason::kBlocked) {
        if (block_expires == core::kNever) {
            nulls[2] = true;  // a permanent block has no retry time
        } else {
            values[2] =
                Int32GetDatum(static_cast<int32>((block_expires - now + kMicros - 1) / kMicros));
        }
    } else {
        values[2] = Int32GetDatum(verdict.retry_after_s);
    }
    bool counted =
        verdict.reason != core::Reason::kBlocked && verdict.reason != core::Reason::kAllowlisted;
    values[3] = Int32GetDatum(verdict.remaining_minute);
    values[4] = Int32GetDatum(verdict.remaining_hour);
    nulls[3] = nulls[4] = !counted;
    return HeapTupleGetDatum(heap_form_tuple(cache.desc, values, nulls));
}

std::string validated_kind(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(1)) {
        throw Error(ErrorKind::kInvalidArgument, "kind must not be NULL",
                    "Name what happened, for example 'failed_login' or 'scanner_path'.");
    }
    std::string kind = pg_call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(1)); });
    bool ok = !kind.empty() && kind.size() <= 64;
    for (char c : kind) {
        ok = ok && (std::islower(static_cast<unsigned char>(c)) ||
                    std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                    c == '.' || c == ':');
    }
    if (!ok) {
        throw Error(ErrorKind::kInvalidArgument, "invalid kind \"" + kind + "\"",
                    "Use 1 to 64 characters from a-z, 0-9, '_', '-', '.', ':', for example "
                    "'failed_login'.");
    }
    return kind;
}

Datum report_suspicious(FunctionCallInfo fcinfo) {
    core::IpAddress ip = required_ip(fcinfo, 0);
    std::string kind = validated_kind(fcinfo);
    int32 weight = PG_ARGISNULL(2) ? 1 : PG_GETARG_INT32(2);
    if (weight < 1 || weight > 100) {
        throw Error(ErrorKind::kInvalidArgument,
                    "weight must be between 1 and 100 (got " + std::to_string(weight) + ")",
                    "A weight is the number of strikes this report counts as.");
    }
    ensure_guard_ready();
    int64_t now = GetCurrentTimestamp();
    SuspicionResult r = guard_report_suspicious(ip, static_cast<uint32_t>(weight), now);
    core::GuardSettings settings = guard_settings();
    json out = {{"ip", ip.to_string()},
                {"kind", kind},
                {"weight", weight},
                {"allowlisted", r.allowlisted},
                {"strikes", r.strikes},
                {"threshold", settings.suspicious_threshold},
                {"auto_blocked", r.auto_block.triggered},
                {"blocked", r.blocked},
                {"blocked_until", r.blocked ? timestamp_json(r.blocked_until_us) : nullptr}};
    return jsonb_from(out);
}

Datum guard_ip_state_sql(FunctionCallInfo fcinfo) {
    core::IpAddress ip = required_ip(fcinfo, 0);
    ensure_guard_ready();
    int64_t now = GetCurrentTimestamp();
    IpState s = guard_ip_state(ip, now);
    core::GuardSettings settings = guard_settings();
    auto window = [](uint32_t used, uint32_t limit) {
        return json{
            {"count", used}, {"limit", limit}, {"remaining", used >= limit ? 0 : limit - used}};
    };
    json out = {{"ip", ip.to_string()},
                {"key", s.key.to_string()},
                {"tracked", s.tracked},
                {"first_seen", s.tracked ? seconds_json(s.entry.first_seen_s) : nullptr},
                {"last_seen", s.tracked ? seconds_json(s.entry.last_seen_s) : nullptr},
                {"minute", window(s.counts.minute, settings.per_minute)},
                {"hour", window(s.counts.hour, settings.per_hour)},
                {"retry_after_s", s.retry_after_s},
                {"strikes", s.counts.strikes},
                {"strike_threshold", settings.suspicious_threshold},
                {"offences", s.tracked ? s.entry.offences : 0},
                {"blocked", s.blocked},
                {"allowlisted", s.allowlisted}};
    json block = nullptr;
    if (s.blocked) {
        block = network_entry_json(s.block);
        block["source"] =
            s.block.source == static_cast<uint8_t>(core::BlockSource::kAuto) ? "auto" : "manual";
        block["pending_persist"] = s.block.pending_persist != 0;
    }
    out["block"] = block;
    out["allow"] = s.allowlisted ? network_entry_json(s.allow) : json(nullptr);
    return jsonb_from(out);
}

Datum guard_stats_sql(FunctionCallInfo fcinfo) {
    int32 top_n = PG_ARGISNULL(0) ? 10 : PG_GETARG_INT32(0);
    if (top_n < 0 || top_n > 1000) {
        throw Error(ErrorKind::kInvalidArgument, "top must be between 0 and 1000");
    }
    require_guard_loaded();
    GuardStats st = guard_stats(GetCurrentTimestamp(), static_cast<size_t>(top_n));
    json verdicts = json::object();
    for (int r = 0; r < core::kReasonCount; ++r) {
        verdicts[core::reason_name(static_cast<core::Reason>(r))] = st.verdicts[r];
    }
    json top = json::array();
    core::GuardSettings settings = guard_settings();
    for (const TopIp& t : st.top) {
        top.push_back({{"key", core::client_key(t.key, settings.ipv6_prefix).to_string()},
                       {"minute", t.minute},
                       {"hour", t.hour},
                       {"last_seen", seconds_json(t.last_seen_s)}});
    }
    json out = {{"tracked_ips", st.tracked},
                {"capacity", st.capacity},
                {"evictions", st.evictions},
                {"partitions", st.partitions},
                {"shared_memory_bytes", st.table_bytes},
                {"bytes_per_tracked_ip", static_cast<double>(st.table_bytes) / st.capacity},
                {"verdicts", verdicts},
                {"top_ips", top},
                {"blocklist_entries", st.blocks},
                {"blocklist_capacity", st.block_capacity},
                {"allowlist_entries", st.allows},
                {"allowlist_capacity", st.allow_capacity},
                {"auto_blocks_pending_persist", st.pending_persist},
                {"auto_blocks_total", st.auto_blocks},
                {"auto_block_failures", st.auto_block_failures},
                {"suspicious_reports", st.suspicious_reports},
                {"list_apply_failures", st.list_apply_failures},
                {"lists_loaded", st.lists_loaded}};
    return jsonb_from(out);
}

// The canonical form of a network: IPv4-mapped IPv6 ranges become plain IPv4.
Datum canonical_network(FunctionCallInfo fcinfo) {
    core::Network network = required_network(fcinfo, 0, "target");
    std::string text = network.to_string();
    return pg_call([&] { return DirectFunctionCall1(cidr_in, CStringGetDatum(text.c_str())); });
}

// Called by unblock_ip: drops an automatic block that the keeper has not yet written to
// the table (at commit), and lets the client's strikes count again. True when there
// was such an unwritten block.
Datum forget_block(FunctionCallInfo fcinfo) {
    core::Network network = required_network(fcinfo, 0, "target");
    ensure_guard_ready();
    tracked_clear_block(network);
    bool pending = false;
    if (!lists_contains(ListKind::kBlock, network, &pending) || !pending) {
        PG_RETURN_BOOL(false);
    }
    ListChange change{};
    change.list = ListKind::kBlock;
    change.remove = true;
    change.entry.address = network.address;
    change.entry.prefix = network.prefix;
    queue_list_change(change);
    PG_RETURN_BOOL(true);
}

// Called by block_ip/allow_ip before they write: refuses (IX003) when the shared-memory
// list is full, so that a committed block never sits in the table unenforced.
Datum check_list_room(FunctionCallInfo fcinfo) {
    core::Network network = required_network(fcinfo, 0, "target");
    ensure_guard_ready();
    bool block = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
    uint32_t capacity = 0;
    if (!lists_has_room(block ? ListKind::kBlock : ListKind::kAllow, network, &capacity)) {
        const char* setting = block ? "infra.ddos_max_blocks" : "infra.ddos_max_allowed";
        throw Error(ErrorKind::kCapacityExhausted,
                    std::string("the ") + (block ? "blocklist" : "allowlist") + " is full (" +
                        std::to_string(capacity) + " entries); " + network.to_string() +
                        " was not added",
                    std::string("Remove entries you no longer need, or raise ") + setting +
                        " and restart the server.");
    }
    PG_RETURN_VOID();
}

// The role the caller acts as (SET ROLE included), even inside SECURITY DEFINER.
Datum caller_role(FunctionCallInfo) {
    return pg_call([] {
        return DirectFunctionCall1(namein,
                                   CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
    });
}

// Last statement of the install script: see note_extension_created().
Datum extension_created(FunctionCallInfo) {
    require_guard_loaded();
    note_extension_created();
    PG_RETURN_VOID();
}

}  // namespace
}  // namespace infra::pg

INFRA_SQL_FUNCTION(infra_check_request, infra::pg::check_request)
INFRA_SQL_FUNCTION(infra_report_suspicious, infra::pg::report_suspicious)
INFRA_SQL_FUNCTION(infra_guard_ip_state, infra::pg::guard_ip_state_sql)
INFRA_SQL_FUNCTION(infra_guard_stats, infra::pg::guard_stats_sql)
INFRA_SQL_FUNCTION(infra_canonical_network, infra::pg::canonical_network)
INFRA_SQL_FUNCTION(infra_forget_block, infra::pg::forget_block)
INFRA_SQL_FUNCTION(infra_caller_role, infra::pg::caller_role)
INFRA_SQL_FUNCTION(infra_check_list_room, infra::pg::check_list_room)
INFRA_SQL_FUNCTION(infra_extension_created, infra::pg::extension_created)
