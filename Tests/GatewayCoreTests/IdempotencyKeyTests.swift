import XCTest
@testable import GatewayCore

final class IdempotencyKeyTests: XCTestCase {
    private func parse(_ value: String) -> String? {
        let input = bytes(value)
        return input.withUnsafeBytes { IdempotencyKeySyntax.parse($0) }.map(text)
    }

    func testKeySyntax() {
        let cases: [(String, String?)] = [
            ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
            ("\"8e03978e-40d5\"", "8e03978e-40d5"),
            ("a", "a"),
            ("\"a\\\"b\\\\c\"", "a\"b\\c"),
            ("!~", "!~"),
            (String(repeating: "k", count: 255), String(repeating: "k", count: 255)),
            ("\"" + String(repeating: "k", count: 255) + "\"", String(repeating: "k", count: 255)),
            (String(repeating: "k", count: 256), nil),
            ("\"" + String(repeating: "k", count: 256) + "\"", nil),
            ("", nil),
            ("\"\"", nil),
            ("\"abc", nil),
            ("\"abc\";p=1", nil),
            ("\"a b\"", nil),
            ("a b", nil),
            ("\"a\\nb\"", nil),
            ("caf\u{e9}", nil),
            ("a\u{7f}", nil),
        ]
        for (value, expected) in cases {
            XCTAssertEqual(parse(value), expected, "value \(String(reflecting: value))")
        }
    }

    func testBeginValidatesTheHeader() {
        let stage = idempotencyStage()
        XCTAssertEqual(begin(stage, post("\"bad key\"")).rejection?.kind, .invalidRequest)
        XCTAssertEqual(begin(stage, post(String(repeating: "k", count: 256))).rejection?.kind, .invalidRequest)
        let twice = "POST /v1/m HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\r\nIdempotency-Key: b\r\n\r\n"
        XCTAssertEqual(begin(stage, twice).rejection?.kind, .invalidRequest)

        let required = idempotencyRoute(mode: .required)
        let missing = begin(stage, post(nil), route: required).rejection
        XCTAssertEqual(missing?.kind, .missingRequiredParameter)
        XCTAssertEqual(missing?.details.first?.0, "field")
        XCTAssertEqual(missing?.details.first?.1, .string("Idempotency-Key"))
        XCTAssertTrue(begin(stage, post(nil)).isNotApplicable, "optional route, no key")
        XCTAssertTrue(begin(stage, post("k1"), route: idempotencyRoute(mode: .off)).isNotApplicable)
        XCTAssertTrue(begin(stage, "GET /v1/m HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\n\r\n", route: required).isNotApplicable,
                      "GET is not a configured method")
        XCTAssertNotNil(begin(stage, "PATCH /v1/m HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\n\r\n").reservation)
        XCTAssertTrue(begin(stage, "PATCH /v1/m HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\n\r\n",
                            route: idempotencyRoute(methods: ["POST"])).isNotApplicable)
    }

    func testQuotedAndBareSpellingsAreOneKey() {
        let stage = idempotencyStage()
        XCTAssertNotNil(begin(stage, post("abc")).reservation)
        XCTAssertEqual(reason(begin(stage, post("\"abc\"")).rejection), "in_progress")
    }

    func testFingerprintMatchesKnownVector() {
        let body = "{\"to\":\"123\",\"text\":\"hello\"}"
        let digest = fingerprint(body, path: "/v1/messages?x=1").bytes
        XCTAssertEqual(digest.map { String(format: "%02x", $0) }.joined(),
                       "61a4f86be7435085aed78895229d23111299e7a22fbb1a363d24b2dc4280d78b")
        XCTAssertEqual(RequestFingerprinter(method: "POST", path: "/").finish().bytes.map { String(format: "%02x", $0) }.joined(),
                       "b31c3a51865c20656377c4faba09c288480067ca3edec106c6d4519e8ee34110")
    }

    func testFingerprintIncrementalEqualsOneShot() {
        var body = [UInt8]()
        for i in 0..<100_000 { body.append(UInt8(truncatingIfNeeded: i &* 31 &+ 7)) }
        let oneShot = RequestFingerprinter(method: "POST", path: "/v1/upload")
        body.withUnsafeBytes { oneShot.update($0.baseAddress, count: $0.count) }
        let expected = oneShot.finish()
        for pieces in [1, 7, 4096, 65_537] {
            let incremental = RequestFingerprinter(method: "POST", path: "/v1/upload")
            body.withUnsafeBytes { b in
                var start = 0
                while start < b.count {
                    let n = min(pieces, b.count - start)
                    incremental.update(b.baseAddress! + start, count: n)
                    incremental.update(nil, count: 0)
                    start += n
                }
            }
            XCTAssertEqual(incremental.finish(), expected, "pieces of \(pieces)")
        }
    }

    func testFingerprintSeparatesMethodPathAndBody() {
        XCTAssertNotEqual(fingerprint("a", method: "POST", path: "/x"), fingerprint("", method: "POST", path: "/xa"))
        XCTAssertNotEqual(fingerprint("x", method: "POST", path: "/"), fingerprint("x", method: "PATCH", path: "/"))
        XCTAssertEqual(fingerprint("x"), fingerprint("x"))
        XCTAssertEqual(RequestFingerprint(bytes: fingerprint("x").bytes), fingerprint("x"))
        XCTAssertNil(RequestFingerprint(bytes: [1, 2, 3]))
    }
}
