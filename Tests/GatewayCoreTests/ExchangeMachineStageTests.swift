import XCTest
@testable import GatewayCore

/// The machine with stages: the Idempotency-Key's store, replay, release and unknown outcome,
/// a stage that waits for an asynchronous answer, one that edits response heads, and per-route chains.
final class ExchangeMachineStageTests: XCTestCase {
    static let config = """
    listen 8080;
    upstream u { server 127.0.0.1:9000; response_timeout 3s; }
    route /v1/ { upstream u; idempotency optional; }
    route /open/ { upstream u; auth public; idempotency off; }
    """

    static func post(_ key: String, body: String = "{}") -> String {
        "POST /v1/m HTTP/1.1\r\nHost: a\r\nIdempotency-Key: \(key)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    func keyed() throws -> (MachineDriver, IdempotencyStage) {
        let store = idempotencyStage()
        return (try MachineDriver(Self.config, idempotency: store), store)
    }

    func testAStoredAnswerIsReplayedAndTheUpstreamSeesTheRequestOnce() throws {
        let (d, _) = try keyed()
        d.send(Self.post("k1"))
        d.respond(d.upstream(0), "HTTP/1.1 201 Created\r\nServer: up\r\nContent-Length: 4\r\n\r\nmade")
        d.send(Self.post("k1"))
        XCTAssertEqual(d.responses.map(\.status), [201, 201])
        XCTAssertEqual(d.responses[1].body, "made")
        XCTAssertEqual(d.responses[1].headers["idempotent-replayed"], "true")
        XCTAssertEqual(d.responses[1].headers["server"], "up")
        XCTAssertEqual(d.upstream(0).receivedText.components(separatedBy: "POST /v1/m").count - 1, 1, "executed once")
    }

    func testADifferentBodyUnderTheSameKeyIsAConflict() throws {
        let (d, _) = try keyed()
        d.send(Self.post("k1", body: "{\"a\":1}"))
        d.respond(d.upstream(0), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        d.send(Self.post("k1", body: "{\"a\":2}"))
        XCTAssertEqual(d.responses.last?.status, 409)
    }

    func testAServerErrorReleasesTheKeySoTheRetryExecutes() throws {
        let (d, _) = try keyed()
        d.send(Self.post("k2"))
        d.respond(d.upstream(0), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        d.send(Self.post("k2"))
        XCTAssertEqual(d.upstream(0).receivedText.components(separatedBy: "POST /v1/m").count - 1, 2)
    }

    func testATimeoutAfterTheRequestWasSentLocksTheKeyAsOutcomeUnknown() throws {
        let (d, _) = try keyed()
        d.send(Self.post("k3"))
        d.advance(3_000)
        XCTAssertEqual(d.responses.last?.status, 504)
        d.send(Self.post("k3"))
        XCTAssertEqual(d.responses.last?.status, 409)
        XCTAssertTrue(d.responses.last?.body.contains("outcome_unknown") ?? false, d.responses.last?.body ?? "")
        XCTAssertEqual(d.upstreams.count, 1, "never a second send")
    }

    func testAConcurrentDuplicateIsRefusedWhileTheFirstIsInFlight() throws {
        let store = idempotencyStage()
        let first = try MachineDriver(Self.config, idempotency: store)
        let second = try MachineDriver(Self.config, idempotency: store)
        first.send(Self.post("k4"))
        second.send(Self.post("k4"))
        XCTAssertEqual(second.responses.last?.status, 409)
        XCTAssertEqual(second.responses.last?.headers["retry-after"], "1")
        XCTAssertTrue(second.upstreams.isEmpty)
    }

    func testAClientThatLeavesBeforeAnythingWasSentReleasesTheKey() throws {
        let (d, store) = try keyed()
        d.send("POST /v1/m HTTP/1.1\r\nHost: a\r\nIdempotency-Key: k5\r\nContent-Length: 10\r\n\r\nabc")
        d.clientCloses()
        let again = try MachineDriver(Self.config, idempotency: store)
        again.send(Self.post("k5"))
        XCTAssertEqual(again.upstreams.count, 1, "released: the retry executes")
    }

    /// A stage that asks for an asynchronous answer (a store round trip) and one that adds a header.
    final class WaitingStage: ExchangeStage {
        var waited = 0
        func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
            waited += 1
            return .suspend
        }
    }

    final class HeaderStage: ExchangeStage {
        var completions: [ExchangeEnd] = []
        func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict { .proceed }
        func onResponseHead(_ head: ResponseHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> ResponseVerdict {
            context.addResponseHeader("X-Stage", "seen \(head.status)")
            return .continue
        }
        func onComplete(_ context: RequestContext, end: ExchangeEnd) { completions.append(end) }
    }

    func testASuspendedStageHoldsTheRequestUntilItsAnswerComes() throws {
        let waiting = WaitingStage(), header = HeaderStage()
        let d = try MachineDriver(Self.config, extraStages: [waiting, header])
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(d.machine.state, .awaitingAdmission)
        XCTAssertTrue(d.upstreams.isEmpty, "nothing goes upstream while a stage waits")
        d.machine.admissionResumed(.proceed)
        d.drive()
        d.respond(d.upstream(0), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        XCTAssertEqual(d.responses.first?.headers["x-stage"], "seen 200")
        XCTAssertEqual(header.completions, [ExchangeEnd(outcome: .completed(status: 200), upstreamEffect: .answered,
                                                        requestRead: true, wallMillis: d.wall)])
    }

    func testASuspendedStageMayStillReject() throws {
        let header = HeaderStage()
        let d = try MachineDriver(Self.config, extraStages: [header, WaitingStage()])
        d.send("GET /v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        d.machine.admissionResumed(.reject(GatewayError(.rateLimitExceeded, "shared limit", retryAfterSeconds: 2)))
        d.drive()
        XCTAssertEqual(d.responses.first?.status, 429)
        XCTAssertEqual(header.completions.map(\.outcome), [.rejected], "stages that let it through hear how it ended, once")
    }

    func testEachRouteRunsOnlyTheStagesThatCanActOnIt() throws {
        let extra = "\nroute /raw/ { upstream u; errors passthrough; }\nroute /keyed/ { upstream u; auth required; }"
        let pipeline = RequestPipeline(config: try parseConfig(Self.config + extra), idempotency: idempotencyStage())
        let names = pipeline.chains.map { $0.map { String(describing: type(of: $0)) } }
        XCTAssertEqual(names[0], ["IdempotencyKeyStage", "UpstreamErrorStage"])
        XCTAssertEqual(names[1], ["UpstreamErrorStage"], "a public route without keys runs no auth stage, idempotency off none")
        XCTAssertEqual(names[2], ["IdempotencyKeyStage"], "errors passthrough: no error stage")
        XCTAssertEqual(names[3], ["AuthStage", "IdempotencyKeyStage", "UpstreamErrorStage"])
    }
}
