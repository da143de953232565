/// The event loop's clock reading in monotonic microseconds, taken once per wake-up: the exchanges
/// of one loop time their requests by it (for the access log and the metrics) without a clock call
/// of their own, as nginx times by its cached clock. Written and read by the loop's thread only.
public final class LoopClock {
    public var micros: UInt64

    public init(micros: UInt64 = 0) {
        self.micros = micros
    }
}
