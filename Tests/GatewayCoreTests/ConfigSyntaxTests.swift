import XCTest
@testable import GatewayCore

final class ConfigSyntaxTests: XCTestCase {
    func testDirectiveTreeWithCommentsAndQuotes() throws {
        let text = """
            # comment
            a b "c d" "e\\"f\\\\g";  # trailing comment
            blk x {
              inner;
            }
            w#no-space-comment
            ;
            """
        let tree = try ConfigParser.parse(text: text, file: "t.conf")
        XCTAssertEqual(tree.map(\.name), ["a", "blk", "w"])
        XCTAssertEqual(tree[0].arguments.map(\.text), ["b", "c d", "e\"f\\g"])
        XCTAssertEqual(tree[0].arguments[1].location, SourceLocation(file: "t.conf", line: 2, column: 5))
        XCTAssertNil(tree[0].block)
        XCTAssertEqual(tree[1].block?.map(\.name), ["inner"])
        XCTAssertEqual(tree[1].block?[0].location, SourceLocation(file: "t.conf", line: 4, column: 3))
        XCTAssertEqual(tree[2].arguments.count, 0)
    }

    func testSyntaxErrorsCarryPositionAndExpectation() {
        let cases: [(text: String, at: String, mentions: [String])] = [
            ("listen 8080", "t.conf:1:12", ["missing ';'", "'listen'"]),
            ("up {\n  server a:1\n}", "t.conf:2:13", ["missing ';'", "'server'"]),
            ("upstream u {\n  server a:1;\n", "t.conf:1:1", ["unclosed block 'upstream'", "expected '}'"]),
            ("a \"never ends;\n", "t.conf:1:3", ["unterminated string", "expected closing"]),
            ("a \"bad \\n escape\";", "t.conf:1:8", ["invalid escape", "expected"]),
            ("a b\"c\";", "t.conf:1:4", ["inside a word"]),
            ("a \"b\"c;", "t.conf:1:6", ["after closing"]),
            ("}", "t.conf:1:1", ["unexpected '}'"]),
            ("  { }", "t.conf:1:3", ["unexpected '{'"]),
            ("a;\n;", "t.conf:2:1", ["unexpected ';'"]),
            ("\"name\" x;", "t.conf:1:1", ["expected a directive name"]),
            ("a b\u{1}c;", "t.conf:1:4", ["control character"]),
        ]
        for (text, at, mentions) in cases {
            XCTAssertThrowsError(try ConfigParser.parse(text: text, file: "t.conf"), text) { error in
                let description = String(describing: error)
                XCTAssertTrue(description.hasPrefix(at + ": "), "\(text): \(description)")
                for word in mentions { XCTAssertTrue(description.contains(word), "\(text): \(description)") }
            }
        }
    }
}
