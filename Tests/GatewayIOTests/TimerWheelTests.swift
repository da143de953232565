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
