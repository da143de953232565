import XCTest
@testable import GatewayCore

final class ErrorJSONValueTests: XCTestCase {
    private func parse(_ s: String) -> JSONValue? { JSONValue.parse(Array(s.utf8)) }

    func testGoodInputs() {
        let table: [(String, JSONValue)] = [
            ("null", .null), ("true", .bool(true)), (" false ", .bool(false)),
            ("0", .number(Array("0".utf8))), ("-12.5e+3", .number(Array("-12.5e+3".utf8))),
            ("123456789012345678901234567890", .number(Array("123456789012345678901234567890".utf8))),
            (#""a\"b\\c\/d\b\f\n\r\t""#, .string("a\"b\\c/d\u{8}\u{C}\n\r\t")),
            (#""\u00e9\u20AC\ud83d\udc4b""#, .string("é€👋")),
            ("\"日本\"", .string("日本")),
            ("[]", .array([])), ("{}", .object([])),
            (" [1, \"x\" ,{ }] ", .array([.number([0x31]), .string("x"), .object([])])),
            (#"{"b":1,"a":[true,null],"b":2}"#, .object([("b", .number([0x31])), ("a", .array([.bool(true), .null])), ("b", .number([0x32]))])),
        ]
        for (input, expected) in table {
            XCTAssertEqual(parse(input), expected, input)
        }
    }

    func testBadInputs() {
        let bad = [
            "", " ", "nul", "nulls", "tru", "True", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity",
            "\"abc", "\"a\nb\"", #""\x""#, #""\u12""#, #""\u12G4""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#,
            "[1,]", "[1 2]", "[", "]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{'a':1}", "{\"a\":1", "[1]x",
            "{\"a\":1}{}", "\u{FEFF}{}", "// c\n{}",
        ]
        for input in bad {
            XCTAssertNil(parse(input), input)
        }
        XCTAssertNil(JSONValue.parse([0x22, 0xFF, 0x22]))
        XCTAssertNil(JSONValue.parse([0x22, 0xE2, 0x82, 0x22]))
        XCTAssertNil(JSONValue.parse([0x22, 0xED, 0xA0, 0x80, 0x22]))
    }

    func testEveryTruncationOfADocumentIsRejectedWithoutCrashing() {
        let document = Array(#"{"success":false,"error":{"code":"x","message":"h\u00e9 👋","details":{"n":-1.5e3,"a":[true,null]}}}"#.utf8)
        XCTAssertNotNil(JSONValue.parse(document))
        for length in 0..<document.count {
            XCTAssertNil(JSONValue.parse(Array(document[..<length])), "prefix \(length)")
        }
    }

    func testDepthLimit() {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        XCTAssertNotNil(parse(ok))
        let tooDeep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        XCTAssertNil(parse(tooDeep))
        XCTAssertNil(parse(String(repeating: "[", count: 100_000)))
        XCTAssertNil(parse(String(repeating: "{\"a\":", count: 100_000)))
        XCTAssertNotNil(JSONValue.parse(Array("[[1]]".utf8), maxDepth: 2))
        XCTAssertNil(JSONValue.parse(Array("[[1]]".utf8), maxDepth: 1))
    }

    func testRandomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,-+.0123456789eEtrufalsn \u\"#.utf8) + [0x00, 0x0A, 0xFF, 0xC3, 0xA9]
        for _ in 0..<3000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            if let value = JSONValue.parse(bytes) {
                XCTAssertEqual(JSONValue.parse(value.serialized()), value)
            }
        }
    }

    func testSerializerRoundTrip() {
        let inputs = [
            #"{"a":[1,-2.5e10,true,false,null],"b":{"c":"d\"\\\n\u0001é👋"}}"#,
            "[]", "{}", #""\u2028""#, "123456789012345678901234567890",
        ]
        for input in inputs {
            guard let value = parse(input) else { XCTFail(input); continue }
            XCTAssertEqual(parse(String(decoding: value.serialized(), as: UTF8.self)), value, input)
        }
        XCTAssertEqual(String(decoding: parse(#" { "a" : [ 1 , "x\n" ] } "#)!.serialized(), as: UTF8.self), #"{"a":[1,"x\u000a"]}"#)
    }

    func testAccessors() {
        let value = parse(#"{"s":"x","i":42,"n":-7,"f":1.5,"e":1e3,"big":99999999999999999999,"min":-9223372036854775808}"#)!
        XCTAssertEqual(value["s"]?.stringValue, "x")
        XCTAssertNil(value["i"]?.stringValue)
        XCTAssertEqual(value["i"]?.intValue, 42)
        XCTAssertEqual(value["n"]?.intValue, -7)
        XCTAssertNil(value["f"]?.intValue)
        XCTAssertNil(value["e"]?.intValue)
        XCTAssertNil(value["big"]?.intValue)
        XCTAssertEqual(value["min"]?.intValue, Int.min)
        XCTAssertNil(value["missing"])
        XCTAssertNil(JSONValue.array([])["s"])
    }
}
