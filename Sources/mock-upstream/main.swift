// mock-upstream: a WhatsApp-style messaging REST API imitation for demos and integration tests.
// Usage: mock-upstream [--host 127.0.0.1] [--port 9000] [--dialect snake|upper]

var config = MockConfig()
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    if flag == "-h" || flag == "--help" {
        MockServer.usage()
    }
    guard let value = arguments.popFirst() else { MockServer.fail("\(flag) needs a value") }
    switch flag {
    case "--host": config.host = value
    case "--port":
        guard let port = Int(value), (0...65535).contains(port) else { MockServer.fail("invalid port \(value)") }
        config.port = port
    case "--dialect":
        guard let dialect = MockDialect(value) else { MockServer.fail("dialect must be snake or upper") }
        config.dialect = dialect
    default: MockServer.fail("unknown flag \(flag)")
    }
}
MockServer.run(config)
