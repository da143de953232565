import XCTest
@testable import GatewayCore

/// Shared helpers for the idempotency tests: a stage over a small store and requests parsed from text.
func idempotencyRoute(_ prefix: String = "/v1/", mode: IdempotencyMode = .optional, methods: [String] = ["POST", "PATCH"]) -> CompiledRoute {
    var config = RouteConfig(prefix: prefix, upstream: "u")
    config.idempotency.mode = mode
    config.idempotency.methods = methods
    return CompiledRoute(config: config, upstreamIndex: 0, index: 0)
}

func idempotencyStage(limits: IdempotencyLimits = IdempotencyLimits(), conflictStatus: Int = 409, shards: Int = 4,
                      journal: IdempotencyJournal? = nil) -> IdempotencyStage {
    var config = IdempotencyConfig()
    config.limits = limits
    config.conflictStatus = conflictStatus
    return IdempotencyStage(config: config, store: IdempotencyStore(limits: limits, shardCount: shards, journal: journal))
}

/// `begin` for a request written as text (head only).
func begin(_ stage: IdempotencyStage, _ request: String, route: CompiledRoute = idempotencyRoute(), identity: UInt32? = 7,
           now: UInt64 = 1_000, file: StaticString = #filePath, line: UInt = #line) -> IdempotencyStage.Decision {
    let input = bytes(request)
    return input.withUnsafeBufferPointer { b in
        var parser = RequestHeadParser(limits: HeadLimits(maxStartLine: 512, maxHeadSize: 4096, maxHeaders: 32))
        guard case .complete = parser.parse(b.baseAddress!, count: b.count) else {
            XCTFail("request did not parse: \(request)", file: file, line: line)
            return .notApplicable
        }
        return withCaller(identity) { stage.begin(caller: $0, route: route, head: parser.head, bytes: b.baseAddress!, now: now) }
    }
}

/// Test identities: a number stands for an API key (its digest is SHA-256 of "key-N"), nil for an
/// anonymous client at 192.0.2.1.
func withCaller<R>(_ identity: UInt32?, _ body: (IdempotencyCaller) -> R) -> R {
    guard let identity else { return Array("192.0.2.1".utf8).withUnsafeBytes { body(.clientAddress($0)) } }
    return KeyHash.sha256("key-\(identity)").withUnsafeBytes { body(.apiKey(digest: $0)) }
}

extension IdempotencyCacheKey {
    init(identity: UInt32?, routePrefix: String, key: [UInt8]) {
        self = withCaller(identity) { IdempotencyCacheKey(caller: $0, routePrefix: routePrefix, key: key) }
    }
}

func post(_ key: String?, path: String = "/v1/messages") -> String {
    "POST \(path) HTTP/1.1\r\nHost: x\r\n" + (key.map { "Idempotency-Key: \($0)\r\n" } ?? "") + "\r\n"
}

func fingerprint(_ body: String, method: String = "POST", path: String = "/v1/messages") -> RequestFingerprint {
    let f = RequestFingerprinter(method: method, path: path)
    let body = bytes(body)
    body.withUnsafeBytes { f.update($0.baseAddress, count: $0.count) }
    return f.finish()
}

func response(_ status: Int, _ body: String = "{\"ok\":true}", headers: String = "Content-Type: application/json\r\n") -> RecordedResponse {
    .replayable(StoredResponse(status: status, reason: bytes("Whatever"), headerLines: bytes(headers), body: bytes(body)))
}

extension IdempotencyStage.Decision {
    var reservation: IdempotencyReservation? {
        if case .proceed(let r) = self { return r }
        return nil
    }

    var settled: SettledEntry? {
        if case .awaitFingerprint(let entry) = self { return entry }
        return nil
    }

    var rejection: GatewayError? {
        if case .reject(let error) = self { return error }
        return nil
    }

    var isNotApplicable: Bool {
        if case .notApplicable = self { return true }
        return false
    }
}

extension IdempotencyStage.Resolution {
    var replayed: StoredResponse? {
        if case .replay(let r) = self { return r }
        return nil
    }

    var rejection: GatewayError? {
        if case .reject(let error, let outcome) = self {
            XCTAssertEqual(outcome.conflictReason, reason(error), "the outcome names the envelope's reason")
            return error
        }
        return nil
    }
}

func reason(_ error: GatewayError?) -> String? {
    guard case .string(let reason)? = error?.details.first(where: { $0.0 == "reason" })?.1 else { return nil }
    return reason
}

extension IdempotencyStore.Lookup {
    var reservationForTest: IdempotencyReservation? {
        if case .reserved(let r) = self { return r }
        return nil
    }
}

/// What the key stage does with a stage's own store, in one call each, as the tests use it.
extension IdempotencyStage {
    enum Decision: Sendable {
        /// Not an idempotent-keyed request on this route: nothing more to do.
        case notApplicable
        case reject(GatewayError)
        case proceed(IdempotencyReservation)
        /// The key has settled; the answer depends on whether this body matches the first one.
        case awaitFingerprint(SettledEntry)
    }

    /// `caller` names the namespace (API key, else client address); `bytes` holds the head.
    func begin(caller: IdempotencyCaller, route: CompiledRoute, head: RequestHead,
                      bytes: UnsafePointer<UInt8>, now: UInt64) -> Decision {
        switch key(route: route, head: head, bytes: bytes) {
        case .notApplicable: return .notApplicable
        case .reject(let error): return .reject(error)
        case .key(let key): return Self.decision(store.lookupOrReserve(IdempotencyCacheKey(caller: caller, routePrefix: route.config.prefix, key: key), now: now))
        }
    }

    static func decision(_ lookup: IdempotencyStore.Lookup) -> Decision {
        switch lookup {
        case .reserved(let reservation): .proceed(reservation)
        case .inFlight: .reject(IdempotencyErrors.inFlight())
        case .settled(let entry): .awaitFingerprint(entry)
        }
    }


    @discardableResult
    func complete(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint, response: RecordedResponse, now: UInt64) -> Bool {
        guard Self.isStored(status: response.status) else {
            store.release(reservation)
            return false
        }
        store.complete(reservation, fingerprint: fingerprint, response: response, now: now)
        return true
    }

    func release(_ reservation: IdempotencyReservation) {
        store.release(reservation)
    }

    func markUnknown(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint?, now: UInt64) {
        store.markUnknown(reservation, fingerprint: fingerprint, now: now)
    }
}
