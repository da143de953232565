import XCTest
@testable import GatewayIO

/// The timing wheel on its own, with a hand-driven clock.
final class TimerWheelTests: XCTestCase {
    final class Probe: EventHandler {
        var deadline: UInt64 = 0
        var timer = TimerLink()
        var firedAt: [UInt64] = []
        var onExpire: (() -> Void)?
        var clock: () -> UInt64 = { 0 }

        func handleEvent(_ flags: UInt32) {}
        func deadlineExpired() {
            firedAt.append(clock())
            deadline = 0
            onExpire?()
        }
    }

    var now: UInt64 = 1_000_000
    var wheel: TimerWheel!

    override func setUp() { wheel = TimerWheel(now: now) }

    func probe(at deadline: UInt64) -> Probe {
        let p = Probe()
        p.clock = { [unowned self] in now }
        p.deadline = deadline
        wheel.schedule(p)
        return p
    }

    func advance(by millis: UInt64, step: UInt64 = 1) {
        let end = now + millis
        while now < end {
            now = min(now + step, end)
            wheel.advance(now: now)
        }
    }

    func testFiresOnceAtTheDeadlineNeverBefore() {
        let p = probe(at: now + 95)
        advance(by: 94)
        XCTAssertEqual(p.firedAt, [])
        advance(by: 20)
        XCTAssertEqual(p.firedAt.count, 1)
        XCTAssertGreaterThanOrEqual(p.firedAt[0], 1_000_095)
        XCTAssertLessThan(p.firedAt[0], 1_000_095 + TimerWheel.tickMillis)
        advance(by: 30_000, step: 10)
        XCTAssertEqual(p.firedAt.count, 1)
    }

    func testMovingAndCancelling() {
        let moved = probe(at: now + 50)
        let cancelled = probe(at: now + 50)
        moved.deadline = now + 500
        wheel.schedule(moved)
        cancelled.deadline = 0
        wheel.schedule(cancelled)
        advance(by: 400, step: 5)
        XCTAssertEqual(moved.firedAt, [])
        XCTAssertEqual(cancelled.firedAt, [])
        advance(by: 200, step: 5)
        XCTAssertEqual(moved.firedAt.count, 1)
        XCTAssertEqual(cancelled.firedAt, [])
        XCTAssertEqual(wheel.timeout(now: now), -1, "nothing scheduled: epoll may sleep")
    }

    func testADeadlinePushedBackOverAndOverFiresOnceAtTheLastOne() {
        // Moves to a later deadline are lazy: the handler stays filed early and is refiled when
        // its tick comes, so it must neither fire at a superseded deadline nor late.
        let p = probe(at: now + 30)
        for _ in 0..<200 {
            p.deadline = now + 30
            wheel.schedule(p)
            advance(by: 3)
        }
        XCTAssertEqual(p.firedAt, [])
        let last = p.deadline
        advance(by: 100)
        XCTAssertEqual(p.firedAt.count, 1)
        XCTAssertGreaterThanOrEqual(p.firedAt[0], last)
        XCTAssertLessThan(p.firedAt[0], last + TimerWheel.tickMillis)
    }

    func testADeadlineBroughtForwardFiresAtTheEarlierMoment() {
        let p = probe(at: now + 5_000)
        p.deadline = now + 40
        wheel.schedule(p)
        advance(by: 60)
        XCTAssertEqual(p.firedAt.count, 1)
        XCTAssertLessThan(p.firedAt[0], 1_000_040 + TimerWheel.tickMillis)
    }

    func testAClearedDeadlineSetAgainFiresAtTheNewMoment() {
        let p = probe(at: now + 30)
        p.deadline = 0
        wheel.schedule(p)
        advance(by: 10)
        p.deadline = now + 200
        wheel.schedule(p)
        advance(by: 150)
        XCTAssertEqual(p.firedAt, [], "the cleared deadline's tick passed without firing")
        advance(by: 100)
        XCTAssertEqual(p.firedAt.count, 1)
        XCTAssertGreaterThanOrEqual(p.firedAt[0], 1_000_210)
    }

    func testCancelLetsGoOfTheHandlerAtOnce() {
        weak var gone: Probe?
        do {
            let p = probe(at: now + 5_000)
            gone = p
            p.deadline = 0
            wheel.schedule(p)
            wheel.cancel(p)
        }
        XCTAssertNil(gone, "the wheel kept no reference")
        XCTAssertEqual(wheel.timeout(now: now), -1)
    }

    func testClosingADescriptorWithoutADeadlineTakesItsHandlerOutOfTheWheel() throws {
        let loop = try EventLoop(bufferSize: 1024)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[1]) }
        weak var gone: Probe?
        do {
            let p = Probe()
            gone = p
            loop.register(fds[0], p)
            p.deadline = loop.now + 5_000
            loop.deadlineChanged(p)
            p.deadline = 0
            loop.deadlineChanged(p)
            loop.close(fds[0])
        }
        XCTAssertNil(gone, "a closed connection is freed at once, not when its tick comes")
    }

    func testDeadlinesBeyondOneTurnWaitForTheirTurn() {
        let turn = TimerWheel.tickMillis * TimerWheel.slotCount
        let far = probe(at: now + 3 * turn + 40)
        advance(by: 3 * turn, step: 7)
        XCTAssertEqual(far.firedAt, [])
        advance(by: 100, step: 7)
        XCTAssertEqual(far.firedAt.count, 1)
    }

    func testALongSleepFiresEverythingDue() {
        let a = probe(at: now + 30), b = probe(at: now + 20_000), c = probe(at: now + 90_000)
        now += 60_000
        wheel.advance(now: now)
        XCTAssertEqual(a.firedAt.count, 1)
        XCTAssertEqual(b.firedAt.count, 1)
        XCTAssertEqual(c.firedAt, [])
    }

    func testAHandlerMayCancelAnotherOfTheSameSlotWhileFiring() {
        let first = probe(at: now + 100)
        let second = probe(at: now + 100)
        first.onExpire = { [unowned self] in
            second.deadline = 0
            wheel.schedule(second)
        }
        second.onExpire = { [unowned self] in
            first.deadline = 0
            wheel.schedule(first)
        }
        advance(by: 200)
        XCTAssertEqual(first.firedAt.count + second.firedAt.count, 1, "whichever fired first cancelled the other")
    }

    func testTimeoutPointsAtTheNextBusySlot() {
        _ = probe(at: now + 250)
        let timeout = wheel.timeout(now: now)
        XCTAssertGreaterThanOrEqual(timeout, 250)
        XCTAssertLessThan(timeout, 250 + Int32(TimerWheel.tickMillis))
    }
}
