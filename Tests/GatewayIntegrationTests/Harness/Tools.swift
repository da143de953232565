import Foundation

/// The result of running a command-line tool (curl, openssl) to completion.
struct ToolRun {
    /// nil when it was still running at the deadline and had to be terminated.
    var exitStatus: Int32?
    var stdout: Data
    var stderr: String

    var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs `executable ARGS` with `input` on its stdin (closed after), capturing both outputs, and
/// terminates it at `timeout`: no test waits on a stuck tool for long.
func runTool(_ executable: String, _ arguments: [String], input: Data = Data(), timeout: TimeInterval = 20) throws -> ToolRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    // Read while it runs: a tool writing more than a pipe holds would otherwise never exit.
    let collected = ToolOutput()
    stdout.fileHandleForReading.readabilityHandler = { collected.append($0.availableData, error: false) }
    stderr.fileHandleForReading.readabilityHandler = { collected.append($0.availableData, error: true) }
    try process.run()
    stdin.fileHandleForWriting.write(input)
    try? stdin.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    let killed = process.isRunning
    if killed { process.terminate() }
    process.waitUntilExit()
    stdout.fileHandleForReading.readabilityHandler = nil
    stderr.fileHandleForReading.readabilityHandler = nil
    collected.append(stdout.fileHandleForReading.readDataToEndOfFile(), error: false)
    collected.append(stderr.fileHandleForReading.readDataToEndOfFile(), error: true)
    return ToolRun(exitStatus: killed ? nil : process.terminationStatus, stdout: collected.out,
                   stderr: String(decoding: collected.err, as: UTF8.self))
}

private final class ToolOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()

    func append(_ data: Data, error: Bool) {
        lock.lock()
        if error { errData.append(data) } else { outData.append(data) }
        lock.unlock()
    }

    var out: Data { lock.lock(); defer { lock.unlock() }; return outData }
    var err: Data { lock.lock(); defer { lock.unlock() }; return errData }
}

/// Where a tool is installed, or nil (the test then says which one is missing).
func toolPath(_ name: String) -> String? {
    for directory in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
        return "\(directory)/\(name)"
    }
    return nil
}
