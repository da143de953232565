/// The results of one server's checks in a row, and when they change its state: `fails` failed
/// checks in a row take an up server out of rotation, `passes` passed ones bring it back. A
/// server starts up, so a gateway that starts (or a check that is added) sends traffic at once
/// rather than waiting `passes` intervals to trust servers that were fine a moment ago.
public struct HealthCheckTally {
    public enum Change: Equatable, Sendable { case wentDown, cameUp }

    public private(set) var isDown = false
    /// Results in a row that disagree with the current state.
    public private(set) var inARow = 0
    private let fails: Int
    private let passes: Int

    /// `isDown`: the server is out already (its checks failed before a reload restarted them).
    public init(fails: Int, passes: Int, isDown: Bool = false) {
        self.fails = fails
        self.passes = passes
        self.isDown = isDown
    }

    public mutating func record(passed: Bool) -> Change? {
        guard passed == isDown else {
            inARow = 0
            return nil
        }
        inARow += 1
        guard inARow >= (isDown ? passes : fails) else { return nil }
        isDown.toggle()
        inARow = 0
        return isDown ? .wentDown : .cameUp
    }
}
