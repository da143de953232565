import XCTest
@testable import GatewayCore

/// The RESP2/RESP3 codec, table-driven: every reply type, cut at every byte, and broken input.
final class StoreRESPTests: XCTestCase {
    private func parse(_ text: String) -> RESPParser.Result { RESPParser.parse(Array(text.utf8)) }
    private func bulk(_ text: String) -> RESPValue { .bulk(Array(text.utf8)) }

    private let cases: [(String, RESPValue)] = [
        ("+OK\r\n", .simple(Array("OK".utf8))),
        ("-ERR unknown command\r\n", .error(Array("ERR unknown command".utf8))),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        ("$5\r\nhel\r\n\r\n", .bulk(Array("hel\r\n".utf8))),
        ("$0\r\n\r\n", .bulk([])),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        ("*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n", .array([.integer(1), .bulk([97]), .array([.simple([120])])])),
        ("*0\r\n", .array([])),
        ("%1\r\n+server\r\n+redis\r\n", .map([.simple(Array("server".utf8)), .simple(Array("redis".utf8))])),
        ("~2\r\n:1\r\n:2\r\n", .array([.integer(1), .integer(2)])),
        (">2\r\n+message\r\n:3\r\n", .push([.simple(Array("message".utf8)), .integer(3)])),
        ("#t\r\n", .boolean(true)),
        (",1.5\r\n", .double(1.5)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber(Array("3492890328409238509324850943850943825024385".utf8))),
        ("=15\r\ntxt:Some string\r\n", .bulk(Array("Some string".utf8))),
        ("!21\r\nSYNTAX invalid syntax\r\n", .error(Array("SYNTAX invalid syntax".utf8))),
        ("|1\r\n+key-popularity\r\n:1\r\n:7\r\n", .integer(7)),
    ]

    func testEveryReplyTypeParsesWhole() {
        for (text, value) in cases {
            XCTAssertEqual(parse(text), .value(value, consumed: text.utf8.count), text.debugDescription)
        }
    }

    func testEveryCutShortReplyAsksForMore() {
        for (text, _) in cases {
            let bytes = Array(text.utf8)
            for cut in 0..<bytes.count {
                XCTAssertEqual(RESPParser.parse(Array(bytes[..<cut])), .needMore, "\(text.debugDescription) cut at \(cut)")
            }
        }
    }

    func testPipelinedRepliesAreReadOneAtATime() {
        let text = "+OK\r\n:1\r\n$3\r\nabc\r\n"
        var rest = Array(text.utf8)
        var values: [RESPValue] = []
        while case .value(let value, let consumed) = RESPParser.parse(rest) {
            values.append(value)
            rest.removeFirst(consumed)
        }
        XCTAssertEqual(values, [.simple([79, 75]), .integer(1), bulk("abc")])
        XCTAssertTrue(rest.isEmpty)
    }

    func testBrokenInputIsRefused() {
        for text in ["?x\r\n", ":12a\r\n", ":\r\n", "$3\r\nabcd\r\n", "$-2\r\n", "*-5\r\n", "#x\r\n", ",nope\r\n",
                     ":99999999999999999999\r\n", "$\(RESPParser.maxBulkLength + 1)\r\n"] {
            guard case .invalid = parse(text) else { return XCTFail("accepted \(text.debugDescription)") }
        }
        let deep = String(repeating: "*1\r\n", count: RESPParser.maxDepth + 1) + ":1\r\n"
        guard case .invalid = parse(deep) else { return XCTFail("accepted a reply nested too deep") }
    }

    func testCommandsAreArraysOfBulkStrings() {
        var command = RESPCommand(arguments: 4)
        command.append("SET".utf8)
        command.append(Array("gw:{".utf8), Array("ab".utf8), Array("}:x".utf8))
        command.append(Int64(-12))
        XCTAssertFalse(command.isComplete)
        command.append([UInt8]())
        XCTAssertTrue(command.isComplete)
        XCTAssertEqual(String(decoding: command.bytes, as: UTF8.self), "*4\r\n$3\r\nSET\r\n$9\r\ngw:{ab}:x\r\n$3\r\n-12\r\n$0\r\n\r\n")
        XCTAssertEqual(RESPCommand(["PING"]).bytes, Array("*1\r\n$4\r\nPING\r\n".utf8))
    }

    func testErrorsAreRecognisedByTheirCode() {
        let moved = RESPValue.error(Array("MOVED 3999 127.0.0.1:6381".utf8))
        XCTAssertTrue(moved.isError("MOVED"))
        XCTAssertFalse(moved.isError("MOVE"))
        XCTAssertEqual(RESPValue.bulk(Array("-17".utf8)).integer, -17)
        XCTAssertNil(RESPValue.null.integer)
    }
}
