import MaelstromCore
import MaelstromTun

/// The emulator's run loop: read what the kernel routes into the TUN, hold it, write it back when due.
///
/// One thread does everything, so the link, the line and the counters need no locks. It sleeps in epoll
/// with a nanosecond timeout until the next departure minus the spin window, then spins on the clock for
/// the rest, because waking from a sleep is late by tens of microseconds on a busy machine.
/// Confined to its thread (not Sendable).
final class EmulatorLoop {
    private static let tunToken = 1
    private static let wakeupToken = 2
    /// Reads per round before due packets are written again, so a flood cannot delay departures.
    private static let readBudget = 64

    private let tun: TunDevice
    private let events: EventLoop
    private let path: PacketPath
    /// The loop's requests from signals.
    let requests: ControlRequests
    private let spinNanoseconds: UInt64
    private let scratch: UnsafeMutableRawBufferPointer

    /// Prepares a loop over `tun`; it owns the device, the path and an epoll instance from now on.
    init(tun: TunDevice, path: PacketPath, spinNanoseconds: UInt64) throws(IOError) {
        self.tun = tun
        self.path = path
        self.spinNanoseconds = spinNanoseconds
        events = try EventLoop(maxEvents: 4)
        try events.register(tun.fd, token: Self.tunToken)
        requests = ControlRequests(wakeup: try events.makeWakeup(token: Self.wakeupToken))
        // Any IP packet fits; the kernel never hands a TUN read more than 64 KiB.
        scratch = .allocate(byteCount: 65536, alignment: 64)
    }

    deinit { scratch.deallocate() }

    /// Runs until a stop request; `report` receives the counters line on each report request and at the end.
    func run(report: (String) -> Void) throws(IOError) {
        let buffer = scratch
        // The departure a long sleep woke up early for; only that one is worth spinning for.
        var spinTarget: UInt64 = 0
        while true {
            let request = requests.take()
            if request != 0 {
                report(countersLine())
                if request & ControlRequests.stop != 0 { return }
            }
            try writeDue()
            var reads = 0
            while reads < Self.readBudget, let length = try tun.read(into: buffer) {
                path.arrive(UnsafeRawBufferPointer(start: buffer.baseAddress, count: length), now: MonotonicClock.now())
                reads += 1
            }
            // A full budget means more is waiting: write what fell due meanwhile, then read on.
            if reads == Self.readBudget { continue }
            try writeDue()
            let next = path.nextDeparture
            if next == .max {
                _ = try events.wait(timeoutNanoseconds: nil)
                continue
            }
            let now = MonotonicClock.now()
            guard next > now else { continue }
            let gap = next - now
            if gap > spinNanoseconds {
                // A long sleep lets the CPU go idle, and waking it is late by tens of microseconds:
                // sleep until the spin window, then spin the rest.
                _ = try events.wait(timeoutNanoseconds: gap - spinNanoseconds)
                spinTarget = next
            } else if next <= spinTarget {
                while MonotonicClock.now() < next {}
                spinTarget = 0
            } else {
                // Departures closer together than the window: the CPU stays warm and short sleeps wake on
                // time, so spinning here would only burn a core at high packet rates.
                _ = try events.wait(timeoutNanoseconds: gap)
            }
        }
    }

    /// Writes every held packet whose departure time has come, earliest first.
    @inline(__always)
    private func writeDue() throws(IOError) {
        let line = path.line
        while true {
            let departure = line.nextDeparture
            let now = MonotonicClock.now()
            guard departure <= now else { return }
            if try tun.write(line.front()) {
                path.counters.recordWrite(lateness: now - departure)
            }
            line.release()
        }
    }

    /// The counters line as printed on SIGUSR1 and at exit.
    func countersLine() -> String {
        EmulatorCounters.line(link: path.link.counters, emulator: path.counters, held: path.line.count,
                              readTruncated: tun.counters.readTruncated, writeDropped: tun.counters.writeDropped)
    }
}
