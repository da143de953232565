/// Where one loop's access log lines go: the I/O layer's per-loop buffer, which hands them to a
/// writer by size or on a timer, never with a write per request.
public protocol AccessLogSink: AnyObject {
    func write(_ record: AccessLogRecord)
}
