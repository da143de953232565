import XCTest
@testable import GatewayCore

/// Shared helpers for the sans-I/O HTTP tests: every head is parsed twice, once with all its bytes
/// and once fed one byte at a time (same start pointer, growing count), and both runs must agree.

let testHeadLimits = HeadLimits(maxStartLine: 128, maxHeadSize: 1024, maxHeaders: 16)

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func text(_ buffer: ByteBuffer) -> String { String(decoding: buffer.readableBytes, as: UTF8.self) }

struct ParsedHeader: Equatable, CustomStringConvertible {
    var name: String
    var value: String
    var known: KnownHeader
    var description: String { "\(name): \(value) [\(known)]" }
}

func headers(_ facts: HeaderFacts, _ input: [UInt8]) -> [ParsedHeader] {
    facts.fields.map { f in
        ParsedHeader(name: text(Array(input[Int(f.nameStart)..<Int(f.nameStart + f.nameLength)])),
                     value: text(Array(input[Int(f.valueStart)..<Int(f.valueStart + f.valueLength)])),
                     known: f.known)
    }
}

/// Everything observable about a request parse, so two parses can be compared as a whole.
struct RequestParse: Equatable {
    var status: HeadParseStatus
    var method: HTTPMethod = .get
    var methodText = ""
    var target = ""
    var path = ""
    var query = ""
    var authority = ""
    var version: HTTPVersion = .http11
    var headers: [ParsedHeader] = []
    var framing: BodyFraming = .none
    var expectContinue = false
    var keepAlive = false
    var contentLength: Int64 = -1
    var chunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    var connectionNamesOthers = false
    var connectionUpgrade = false

    init(status: HeadParseStatus, head: RequestHead, input: [UInt8]) {
        self.status = status
        guard case .complete = status else { return }
        method = head.method
        methodText = text(Array(input[head.methodStart..<head.methodStart + head.methodLength]))
        target = text(Array(input[head.targetStart..<head.targetStart + head.targetLength]))
        path = text(Array(input[head.pathStart..<head.pathStart + head.pathLength]))
        query = text(Array(input[head.queryStart..<head.queryStart + head.queryLength]))
        authority = text(Array(input[head.authorityStart..<head.authorityStart + head.authorityLength]))
        version = head.version
        headers = GatewayCoreTests.headers(head.facts, input)
        framing = head.framing
        expectContinue = head.expectContinue
        keepAlive = head.keepAlive
        contentLength = head.facts.contentLength
        chunked = head.facts.chunked
        connectionClose = head.facts.connectionClose
        connectionKeepAlive = head.facts.connectionKeepAlive
        connectionNamesOthers = head.facts.connectionNamesOthers
        connectionUpgrade = head.facts.connectionUpgrade
    }
}

/// Parses `input` whole and byte by byte; asserts both agree and returns the whole-input result.
func parseRequest(_ input: [UInt8], limits: HeadLimits = testHeadLimits,
                  file: StaticString = #filePath, line: UInt = #line) -> RequestParse {
    input.withUnsafeBufferPointer { buffer in
        let p = buffer.baseAddress!
        var whole = RequestHeadParser(limits: limits)
        let oneShot = RequestParse(status: whole.parse(p, count: input.count), head: whole.head, input: input)

        var trickle = RequestHeadParser(limits: limits)
        var status = HeadParseStatus.needMore
        for count in 1...input.count {
            status = trickle.parse(p, count: count)
            if status != .needMore { break }
        }
        let byteWise = RequestParse(status: status, head: trickle.head, input: input)
        XCTAssertEqual(oneShot, byteWise, "whole vs byte-by-byte: \(String(reflecting: text(input)))",
                       file: file, line: line)
        return oneShot
    }
}

func parseRequest(_ input: String, limits: HeadLimits = testHeadLimits,
                  file: StaticString = #filePath, line: UInt = #line) -> RequestParse {
    parseRequest(bytes(input), limits: limits, file: file, line: line)
}

struct ResponseParse: Equatable {
    var status: HeadParseStatus
    var code = 0
    var reason = ""
    var version: HTTPVersion = .http11
    var headers: [ParsedHeader] = []
    var keepAlive = false
    var connectionClose = false
    var framing: [BodyFraming] = []

    init(status: HeadParseStatus, head: ResponseHead, input: [UInt8]) {
        self.status = status
        guard case .complete = status else { return }
        code = head.status
        reason = text(Array(input[head.reasonStart..<head.reasonStart + head.reasonLength]))
        version = head.version
        headers = GatewayCoreTests.headers(head.facts, input)
        keepAlive = head.keepAlive
        connectionClose = head.facts.connectionClose
        framing = [HTTPMethod.get, .head, .post].map { head.framing(requestMethod: $0) }
    }

    /// Framing for a GET.
    var getFraming: BodyFraming? { framing.first }
}

func parseResponse(_ input: [UInt8], limits: HeadLimits = testHeadLimits,
                   file: StaticString = #filePath, line: UInt = #line) -> ResponseParse {
    input.withUnsafeBufferPointer { buffer in
        let p = buffer.baseAddress!
        var whole = ResponseHeadParser(limits: limits)
        let oneShot = ResponseParse(status: whole.parse(p, count: input.count), head: whole.head, input: input)

        var trickle = ResponseHeadParser(limits: limits)
        var status = HeadParseStatus.needMore
        for count in 1...input.count {
            status = trickle.parse(p, count: count)
            if status != .needMore { break }
        }
        let byteWise = ResponseParse(status: status, head: trickle.head, input: input)
        XCTAssertEqual(oneShot, byteWise, "whole vs byte-by-byte: \(String(reflecting: text(input)))",
                       file: file, line: line)
        return oneShot
    }
}

func parseResponse(_ input: String, limits: HeadLimits = testHeadLimits,
                   file: StaticString = #filePath, line: UInt = #line) -> ResponseParse {
    parseResponse(bytes(input), limits: limits, file: file, line: line)
}

/// The outcome of running a BodyDecoder over a whole input.
struct BodyRun: Equatable {
    var payload: [UInt8] = []
    /// Input bytes consumed when the body ended (nil: it did not end).
    var endedAfter: Int?
    var failure: String?
    var payloadBytes: Int64 = 0
}

/// Runs a decoder over `input`, making bytes available in pieces whose sizes cycle through
/// `pieces` (one shot when empty). Bytes not consumed stay in place and are offered again.
func decodeBody(_ framing: BodyFraming, _ input: [UInt8], pieces: [Int] = []) -> BodyRun {
    var decoder = BodyDecoder(framing: framing)
    var run = BodyRun()
    input.withUnsafeBufferPointer { buffer in
        let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        var position = 0
        var available = pieces.isEmpty ? input.count : min(pieces[0], input.count)
        var piece = 0
        var guardCounter = 0
        while guardCounter < 1_000_000 {
            guardCounter += 1
            switch decoder.next(base + position, count: available - position) {
            case .data(let offset, let length, let consumed):
                XCTAssertGreaterThan(length, 0, "data steps carry bytes")
                XCTAssertLessThanOrEqual(offset + length, consumed)
                XCTAssertLessThanOrEqual(position + consumed, available)
                run.payload += input[(position + offset)..<(position + offset + length)]
                position += consumed
            case .needMore(let consumed):
                position += consumed
                if available == input.count { run.payloadBytes = decoder.payloadBytes; return }
                piece += 1
                available = min(input.count, available + (pieces.isEmpty ? input.count : pieces[piece % pieces.count]))
            case .end(let consumed):
                position += consumed
                run.endedAfter = position
                XCTAssertTrue(decoder.isDone)
                run.payloadBytes = decoder.payloadBytes
                return
            case .failed(let reason):
                run.failure = reason.text
                run.payloadBytes = decoder.payloadBytes
                return
            }
        }
        XCTFail("decoder made no progress")
    }
    return run
}
