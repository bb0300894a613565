/// The daemon's `ReadinessWaiter`: one epoll instance watching a lane's TUN queue, its UDP socket
/// and a wakeup. While sends are pending it stops watching the TUN (the lane would not read it,
/// and level-triggered readiness would spin) and watches the socket for writability instead.
public final class EpollWaiter: ReadinessWaiter {
    private let loop: EventLoop
    private let deviceFD: Int32
    private let transportFD: Int32
    private var watchingWritable = false
    /// Interrupts `wait` from any thread (a stop request).
    public let wakeup: Wakeup

    private static let deviceToken = 0
    private static let transportToken = 1
    private static let wakeupToken = 2

    /// Watches `device` and `transport` (their poll descriptors) for readability.
    public init(deviceFD: Int32, transportFD: Int32) throws(IOError) {
        loop = try EventLoop(maxEvents: 8)
        self.deviceFD = deviceFD
        self.transportFD = transportFD
        wakeup = try loop.makeWakeup(token: Self.wakeupToken)
        try loop.register(deviceFD, token: Self.deviceToken)
        try loop.register(transportFD, token: Self.transportToken)
    }

    public func wait(timeoutNanoseconds: UInt64, transportWritable: Bool) throws(IOError) -> Readiness {
        if transportWritable != watchingWritable {
            try loop.modify(deviceFD, token: Self.deviceToken, interest: transportWritable ? [] : .readable)
            try loop.modify(transportFD, token: Self.transportToken, interest: transportWritable ? [.readable, .writable] : .readable)
            watchingWritable = transportWritable
        }
        var ready: Readiness = []
        let events = try loop.wait(timeoutNanoseconds: timeoutNanoseconds)
        for index in 0..<events.count {
            let event = events[index]
            switch event.token {
            case Self.deviceToken where event.isReadable: ready.insert(.deviceReadable)
            case Self.transportToken:
                if event.isReadable { ready.insert(.transportReadable) }
                if event.isWritable { ready.insert(.transportWritable) }
            default: break
            }
        }
        return ready
    }
}
