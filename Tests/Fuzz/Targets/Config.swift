@testable import GatewayCore

/// The config parser and validator, from arbitrary text. Errors must point into the text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // include and keys_file read files: keep them to names that resolve nowhere, so a mutated
    // path cannot make an iteration read a device or a large file.
    guard let directives = try? ConfigParser.parse(text: text, file: "fuzz.conf"), readsNoFiles(directives) else {
        return checkError(text)
    }
    do {
        let config = try GatewayConfig.parse(text: text, file: "fuzz.conf", baseDirectory: baseDirectory)
        require(!config.listen.isEmpty, "a config without a listen address was accepted")
    } catch {
        checkLocation(error, text)
    }
    return 0
}

/// Does not exist, so every relative path under it fails to open, `..` included.
private let baseDirectory = "/nonexistent-gateway-fuzz"

private func readsNoFiles(_ directives: [ConfigDirective]) -> Bool {
    directives.allSatisfy { d in
        let opensFile = d.name == "include" || d.name == "keys_file"
        return !(opensFile && d.arguments.contains { $0.text.hasPrefix("/") }) && readsNoFiles(d.block ?? [])
    }
}

private func checkError(_ text: String) -> CInt {
    do throws(ConfigError) {
        _ = try ConfigParser.parse(text: text, file: "fuzz.conf")
    } catch {
        checkLocation(error, text)
    }
    return 0
}

private func checkLocation(_ error: ConfigError, _ text: String) {
    let lines = text.utf8.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    require(error.file == "fuzz.conf" || error.file.hasPrefix(baseDirectory), "error names file \(error.file)")
    require(error.line >= 1 && error.column >= 1 && (error.file != "fuzz.conf" || error.line <= lines),
            "error at \(error.line):\(error.column) of \(lines) lines: \(error.message)")
}
