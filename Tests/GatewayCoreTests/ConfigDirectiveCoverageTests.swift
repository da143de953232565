import Foundation
import XCTest
@testable import GatewayCore

/// Every directive of every context, written once with a non-default value, lands in the field it
/// names. The switches below have no `default:`: a new directive does not compile until it has a
/// row here, just as the builder does not compile until it reads it.
final class ConfigDirectiveCoverageTests: XCTestCase {
    private typealias Probe = (text: String, holds: (GatewayConfig) -> Bool)

    private let base = "listen 8080;\nupstream u { server 127.0.0.1:9000; }\nplan p { }\n"
    private let hash = String(repeating: "ab", count: 32)
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "coverage-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "workers 7;\n".write(toFile: directory + "/inc.conf", atomically: true, encoding: .utf8)
        try "sha256:\(hash) p\n".write(toFile: directory + "/keys.list", atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func check(_ name: String, _ probe: Probe, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let config = try GatewayConfig.parse(text: base + probe.text, file: "t.conf", baseDirectory: directory)
            XCTAssertTrue(probe.holds(config), "'\(name)' did not set what it names: \(probe.text)", file: file, line: line)
        } catch {
            XCTFail("'\(name)': \(error)", file: file, line: line)
        }
    }

    private func route(_ c: GatewayConfig) -> RouteConfig? { c.routes.first { $0.prefix == "/t" } }
    private func key(_ c: GatewayConfig) -> KeyPolicy? { c.access.policies.count > 1 ? c.access.policies.last : nil }

    func testTopLevel() {
        for name in TopDirective.allCases {
            let probe: Probe = switch name {
            case .include: ("include inc.conf;", { $0.workers == 7 })
            case .listen: ("listen 9090;", { $0.listen.map(\.port) == [8080, 9090] })
            case .workers: ("workers 3;", { $0.workers == 3 })
            case .clientHeaderTimeout: ("client_header_timeout 7s;", { $0.client.headerTimeoutMs == 7000 })
            case .clientBodyTimeout: ("client_body_timeout 7s;", { $0.client.bodyTimeoutMs == 7000 })
            case .keepaliveTimeout: ("keepalive_timeout 7s;", { $0.client.keepaliveTimeoutMs == 7000 })
            case .sendTimeout: ("send_timeout 7s;", { $0.client.sendTimeoutMs == 7000 })
            case .keepaliveRequests: ("keepalive_requests 7;", { $0.client.keepaliveRequests == 7 })
            case .maxRequestLine: ("max_request_line 1k;", { $0.client.maxRequestLine == 1024 })
            case .maxHeaderSize: ("max_header_size 32k;", { $0.client.maxHeaderSize == 32 << 10 })
            case .maxHeaders: ("max_headers 7;", { $0.client.maxHeaders == 7 })
            case .accessLog: ("access_log stderr format=text;", { $0.accessLog == AccessLogConfig(destination: .stderr, format: .text) })
            case .upstream: ("upstream v { server 127.0.0.1:1; }", { $0.upstreams["v"] != nil })
            case .route: ("route /t { upstream u; }", { self.route($0) != nil })
            case .errors: ("errors { vocabulary upper; }", { $0.errors.vocabulary == .upper })
            case .idempotency: ("idempotency { ttl 7s; }", { $0.idempotency.limits.ttlMs == 7000 })
            case .plan: ("plan q { concurrency 7; }", { $0.access.planIndex(named: "q") != nil })
            case .key: ("key sha256:\(hash) { plan p; }", { $0.access.keys.count == 1 })
            case .keysFile: ("keys_file keys.list;", { $0.access.keys.count == 1 })
            case .anonymous: ("anonymous { rate 7/s; }", { $0.access.anonymousRate?.count == 7 })
            case .globalConcurrency: ("global_concurrency 7;", { $0.access.globalConcurrency == 7 })
            case .rateLimitHeaders: ("rate_limit_headers both;", { $0.access.headers == .both })
            case .dailyQuotaReset: ("daily_quota_reset 00:07;", { $0.access.quotaResetOffsetMs == 7 * 60_000 })
            case .authRealm: ("auth_realm \"Messaging API\";", { $0.access.authRealm == "Messaging API" })
            case .ioEngine: ("io_engine epoll;", { $0.ioEngine == .epoll })
            case .shutdownTimeout: ("shutdown_timeout 7s;", { $0.shutdownTimeoutMs == 7000 })
            case .pid: ("pid run/gateway.pid;", { $0.pidFile == self.directory + "/run/gateway.pid" })
            case .adminListen: ("admin_listen 127.0.0.1:9901;", { $0.adminListen?.port == 9901 })
            case .sslCertificate, .sslCertificateKey:
                ("ssl_certificate c.pem; ssl_certificate_key k.pem;", {
                    $0.tls.certificates == [ServerTLSConfig.Certificate(chain: ConfigFile(path: self.directory + "/c.pem"),
                                                                        key: ConfigFile(path: self.directory + "/k.pem"))]
                })
            case .sslProtocols: ("ssl_protocols TLSv1.3;", { $0.tls.minVersion == .tls13 && $0.tls.maxVersion == .tls13 })
            case .sslCiphers: ("ssl_ciphers ECDHE+AESGCM;", { $0.tls.ciphers == "ECDHE+AESGCM" })
            case .sslCiphersuites: ("ssl_ciphersuites TLS_AES_128_GCM_SHA256;", { $0.tls.ciphersuites == "TLS_AES_128_GCM_SHA256" })
            case .sslSessionTickets: ("ssl_session_tickets off;", { !$0.tls.sessionTickets })
            case .sslHandshakeTimeout: ("ssl_handshake_timeout 7s;", { $0.tls.handshakeTimeoutMs == 7000 })
            case .store:
                ("store redis://10.0.0.7:6380/3 password=s3cret tls;", {
                    $0.store.backend == .redis(RedisEndpoint(host: "10.0.0.7", port: 6380, database: 3, password: "s3cret", tls: true))
                })
            case .storeFailure: ("store_failure limits=closed idempotency=open;", { !$0.store.limitsFailOpen && $0.store.idempotencyFailOpen })
            case .storeConnectTimeout: ("store_connect_timeout 7s;", { $0.store.connectTimeoutMs == 7000 })
            case .storeCommandTimeout: ("store_command_timeout 7s;", { $0.store.commandTimeoutMs == 7000 })
            case .storeRetryInterval: ("store_retry_interval 7s;", { $0.store.retryIntervalMs == 7000 })
            case .storeConnections: ("store_connections 7;", { $0.store.connections == 7 })
            case .storeQueue: ("store_queue 77;", { $0.store.queue == 77 })
            case .storeSync: ("store_sync local_burst=7;", { $0.store.localBurst == 7 })
            }
            check(name.rawValue, probe)
        }
    }

    func testUpstreamBlock() {
        for name in UpstreamDirective.allCases {
            let (text, holds): (String, (UpstreamConfig) -> Bool) = switch name {
            case .server: ("server 127.0.0.1:1 weight=7;", { $0.servers.first?.weight == 7 })
            case .connectTimeout: ("connect_timeout 7s;", { $0.connectTimeoutMs == 7000 })
            case .responseTimeout: ("response_timeout 7s;", { $0.responseTimeoutMs == 7000 })
            case .keepalive: ("keepalive 7;", { $0.keepalive == 7 })
            case .keepaliveTimeout: ("keepalive_timeout 7s;", { $0.keepaliveTimeoutMs == 7000 })
            case .maxResponseHeader: ("max_response_header 7k;", { $0.maxResponseHeaderSize == 7 << 10 })
            case .healthCheck: ("health_check interval=7s;", { $0.healthCheck?.intervalMs == 7000 })
            case .tls: ("tls on;", { $0.servers.allSatisfy(\.tls) })
            case .tlsTrustedCertificate: ("tls on; tls_trusted_certificate /ca.pem;", { $0.tls.trustedCertificate?.path == "/ca.pem" })
            case .tlsServerName: ("tls on; tls_server_name api.example.com;", { $0.tls.serverName == "api.example.com" })
            case .tlsCertificate, .tlsCertificateKey:
                ("tls on; tls_certificate /c.pem; tls_certificate_key /k.pem;", {
                    $0.tls.certificate?.path == "/c.pem" && $0.tls.certificateKey?.path == "/k.pem"
                })
            }
            let server = name == .server ? "" : "server 127.0.0.1:1; "
            check(name.rawValue, ("upstream v { \(server)\(text) }", { $0.upstreams["v"].map(holds) ?? false }))
        }
    }

    func testRouteBlock() {
        for name in RouteDirective.allCases {
            let (text, holds): (String, (RouteConfig) -> Bool) = switch name {
            case .upstream: ("", { $0.upstream == "u" })
            case .methods: ("methods PUT;", { $0.methods == ["PUT"] })
            case .maxBody: ("max_body 7k;", { $0.maxBody == 7 << 10 })
            case .errors: ("errors passthrough;", { $0.errors == .passthrough })
            case .idempotency: ("idempotency required;", { $0.idempotency.mode == .required })
            case .idempotencyMethods: ("idempotency_methods PUT;", { $0.idempotency.methods == ["PUT"] })
            case .auth: ("auth required;", { $0.auth == .required })
            case .scope: ("auth required; scope s;", { $0.scopes == ["s"] })
            case .rate: ("rate 7/s;", { $0.rate?.count == 7 })
            case .quota: ("quota counts;", { $0.quota == .all })
            case .upgrade: ("upgrade WebSocket;", { $0.upgrades == ["websocket"] })
            }
            check(name.rawValue, ("route /t { upstream u; \(text) }", { self.route($0).map(holds) ?? false }))
        }
    }

    func testErrorsBlock() {
        for name in ErrorsDirective.allCases {
            let (text, holds): (String, (ErrorsConfig) -> Bool) = switch name {
            case .vocabulary: ("vocabulary upper;", { $0.vocabulary == .upper })
            case .retryAfterDefault: ("retry_after_default 7s;", { $0.retryAfterDefaultSeconds == 7 })
            case .rewriteBuffer: ("rewrite_buffer 7k;", { $0.rewriteBufferSize == 7 << 10 })
            case .map: ("map A b 409;", { $0.overrides == [ErrorCodeOverride(upstreamCode: "A", code: "b", status: 409)] })
            }
            check(name.rawValue, ("errors { \(text) }", { holds($0.errors) }))
        }
    }

    func testIdempotencyBlock() {
        for name in IdempotencyDirective.allCases {
            let (text, holds): (String, (IdempotencyConfig) -> Bool) = switch name {
            case .ttl: ("ttl 7s;", { $0.limits.ttlMs == 7000 })
            case .maxMemory: ("max_memory 1g;", { $0.limits.maxMemory == 1 << 30 })
            case .maxResponseSize: ("max_response_size 7k;", { $0.limits.maxResponseSize == 7 << 10 })
            case .conflictStatus: ("conflict_status 422;", { $0.conflictStatus == 422 })
            case .journal: ("journal /tmp/j;", { $0.journalPath == "/tmp/j" })
            case .fsync: ("fsync always;", { $0.sync == .always })
            case .fsyncInterval: ("fsync_interval 7s;", { $0.sync == .interval(ms: 7000) })
            }
            check(name.rawValue, ("idempotency { \(text) }", { holds($0.idempotency) }))
        }
    }

    func testPlanKeyAndAnonymousBlocks() {
        for name in LimitDirective.allCases {
            let (text, holds): (String, (PolicyLimits) -> Bool) = switch name {
            case .rate: ("rate 7/s;", { $0.rate?.count == 7 })
            case .concurrency: ("concurrency 7;", { $0.concurrency == 7 })
            case .dailyQuota: ("daily_quota 7;", { $0.dailyQuota == 7 })
            }
            check("plan " + name.rawValue, ("plan q { \(text) }", { c in
                c.access.planIndex(named: "q").map { holds(c.access.policies[$0].limits) } ?? false
            }))
        }
        for name in KeyDirective.allCases {
            let (text, holds): (String, (GatewayConfig) -> Bool) = switch name {
            case .plan: ("", { $0.access.keys.count == 1 })
            case .rate: ("rate 7/s;", { self.key($0)?.limits.rate?.count == 7 })
            case .concurrency: ("concurrency 7;", { self.key($0)?.limits.concurrency == 7 })
            case .dailyQuota: ("daily_quota 7;", { self.key($0)?.limits.dailyQuota == 7 })
            case .scopes: ("scopes s;", { $0.access.scopeNames == ["s"] })
            case .expires: ("expires 2030-01-01;", { $0.access.keys.entries.first?.expiresAtMs == 1_893_456_000_000 })
            case .revoked: ("revoked;", { $0.access.keys.entries.first?.revoked == true })
            }
            check("key " + name.rawValue, ("key sha256:\(hash) { plan p; \(text) }", holds))
        }
        for name in AnonymousDirective.allCases {
            switch name {
            case .rate: check("anonymous rate", ("anonymous { rate 7/s; }", { $0.access.anonymousRate?.count == 7 }))
            }
        }
    }
}
