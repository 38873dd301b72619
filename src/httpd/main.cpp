// infra_httpd: the thin HTTP layer over infra_ext's SQL functions (src/http/api.hpp).
//
//   infra_httpd --listen 127.0.0.1:8080 --db 'host=/var/run/postgresql dbname=app user=infra_web'
//               [--trusted-proxies 127.0.0.1,10.0.0.0/8] [--static web/] [--db-pool 8]
//               [--max-connections 64] [--fast-lanes 1]
// Each flag can also come from the environment (INFRA_HTTPD_LISTEN, INFRA_HTTPD_DB,
// INFRA_HTTPD_TRUSTED_PROXIES, INFRA_HTTPD_STATIC, INFRA_HTTPD_DB_POOL,
// INFRA_HTTPD_MAX_CONNECTIONS, INFRA_HTTPD_FAST_LANES); a flag wins. SIGTERM or SIGINT stop it
// gracefully: no new connections, requests in progress finish (at most 10 s). Exit codes: 0
// stopped, 2 usage error, 3 cannot listen.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "http/api.hpp"

namespace {

const char* const kHelp =
    "Usage: infra_httpd --db CONNINFO [--listen HOST:PORT] [--trusted-proxies CIDR[,CIDR...]]\n"
    "                   [--static DIR] [--db-pool N] [--max-connections N] [--fast-lanes N]\n"
    "\n"
    "Serves infra_ext's HTTP API (/api/infrastructure/...), /api/guard/check for nginx\n"
    "auth_request, /metrics, /healthz and the admin page (/admin/infrastructure, from\n"
    "--static DIR). Every request is checked by infra.check_request() first.\n"
    "\n"
    "  --listen HOST:PORT        where to listen (default 127.0.0.1:8080)\n"
    "  --db CONNINFO             libpq connection string; its role must be a member of\n"
    "                            infra_httpd (GRANT infra_httpd TO <role>)\n"
    "  --trusted-proxies LIST    proxies whose X-Forwarded-For is believed (default none)\n"
    "  --static DIR              the admin page's files\n"
    "  --db-pool N               database connections (default 8)\n"
    "  --max-connections N       threads serving HTTP connections (default 64)\n"
    "  --fast-lanes N            epoll threads that answer keep-alive GET /api/guard/check\n"
    "                            in batches (default 1; 0 = every connection on a thread)\n"
    "Each has an environment variable INFRA_HTTPD_<NAME> (e.g. INFRA_HTTPD_DB).\n"
    "Exit codes: 0 stopped by a signal, 2 usage error, 3 cannot listen.\n";

int usage(const std::string& message) {
    std::fprintf(stderr, "infra_httpd: %s\n\n%s", message.c_str(), kHelp);
    return 2;
}

// How many connections may be open at once: max(1024, 16 x threads), within the open-file
// limit (raised to its hard maximum first, as nginx's worker_rlimit_nofile does), less a
// reserve for the database connections, the listening socket and the static files.
std::size_t open_connection_cap(std::size_t threads) {
    std::size_t wanted = std::max<std::size_t>(1024, 16 * threads);
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
        if (files.rlim_cur < files.rlim_max) {
            files.rlim_cur = files.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &files);
            (void)getrlimit(RLIMIT_NOFILE, &files);
        }
        const std::size_t reserve = 128;
        if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted + reserve) {
            wanted = files.rlim_cur > 2 * reserve ? files.rlim_cur - reserve : files.rlim_cur / 2;
        }
    }
    return wanted;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace infra::http;
    const std::map<std::string, const char*> env_names = {
        {"--listen", "INFRA_HTTPD_LISTEN"},
        {"--db", "INFRA_HTTPD_DB"},
        {"--trusted-proxies", "INFRA_HTTPD_TRUSTED_PROXIES"},
        {"--static", "INFRA_HTTPD_STATIC"},
        {"--db-pool", "INFRA_HTTPD_DB_POOL"},
        {"--max-connections", "INFRA_HTTPD_MAX_CONNECTIONS"},
        {"--fast-lanes", "INFRA_HTTPD_FAST_LANES"}};
    std::map<std::string, std::string> opt = {{"--listen", "127.0.0.1:8080"},
                                              {"--db-pool", "8"},
                                              {"--max-connections", "64"},
                                              {"--fast-lanes", "1"}};
    for (const auto& [flag, env] : env_names) {
        if (const char* v = std::getenv(env)) opt[flag] = v;
    }
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kHelp, stdout);
            return 0;
        }
        std::string value;
        size_t eq = arg.find('=');
        if (eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        } else if (env_names.count(arg) && i + 1 < argc) {
            value = argv[++i];
        } else {
            return usage(env_names.count(arg) ? arg + " needs a value" : "unknown option " + arg);
        }
        if (!env_names.count(arg)) return usage("unknown option " + arg);
        opt[arg] = value;
    }
    if (opt["--db"].empty()) return usage("--db is required");
    const std::string listen = opt["--listen"];
    const size_t colon = listen.rfind(':');
    int port = 0;
    try {
        port = colon == std::string::npos ? 0 : std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
        port = 0;
    }
    if (port <= 0 || port > 65535)
        return usage("--listen must be HOST:PORT, not \"" + listen + "\"");
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);

    ApiOptions api;
    size_t pool = 0, connections = 0, lanes = 0;
    try {
        api.trusted_proxies = TrustedProxies::parse(opt["--trusted-proxies"]);
        pool = std::stoul(opt["--db-pool"]);
        connections = std::stoul(opt["--max-connections"]);
        lanes = std::stoul(opt["--fast-lanes"]);
    } catch (const std::exception& e) {
        return usage(e.what());
    }
    if (pool == 0 || connections == 0) return usage("--db-pool and --max-connections must be > 0");
    api.static_dir = opt["--static"];

    // Signals go to the thread that waits for them, not to the server's threads.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Database db(opt["--db"], pool);
    // The lanes' own connections (one each): a lane answers many clients from one thread,
    // so its wait on the database is bounded (connect 2 s, each statement 2 s, then the
    // connection is dropped and the requests go to the thread path).
    DatabaseLimits lane_limits;
    lane_limits.connect_timeout_s = 2;
    lane_limits.query_timeout = std::chrono::milliseconds(2000);
    lane_limits.application_name = "infra_httpd fast lane";
    Database lane_db(opt["--db"], std::max<size_t>(lanes, 1), std::chrono::milliseconds(2000),
                     lane_limits);
    api.lane_db = &lane_db;
    Metrics metrics;
    GuardedServerOptions server_options;
    server_options.max_connections = connections;
    server_options.fast_lanes = lanes;
    server_options.max_open_connections = open_connection_cap(connections);
    GuardedServer server(server_options);
    install_api(server, db, metrics, api);

    std::thread waiter([&] {
        int signo = 0;
        sigwait(&signals, &signo);
        std::fprintf(stderr, "infra_httpd: signal %d: stopping (requests in progress finish)\n",
                     signo);
        server.stop_gracefully();
    });
    waiter.detach();

    if (!server.bind_to_port(host.c_str(), port)) {
        std::fprintf(stderr, "infra_httpd: cannot listen on %s\n", listen.c_str());
        return 3;
    }
    std::fprintf(stderr, "infra_httpd: listening on %s\n", listen.c_str());
    server.listen_after_bind();
    std::fprintf(stderr, "infra_httpd: stopped\n");
    return 0;
}
