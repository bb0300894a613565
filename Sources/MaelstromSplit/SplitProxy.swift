import CRelay
import Glibc
import MaelstromConfig
import MaelstromTun
import NIOConcurrencyHelpers

/// The split-mode relay: two transparent listeners (connections from the local site, and from
/// the tunnel), and for each accepted connection an onward connection with the same addresses,
/// bytes moved between them by `splice(2)` on one epoll thread of its own.
///
/// Not Sendable: `run()` owns every descriptor on the proxy's thread; other threads see only
/// `control` (stop) and `counters` (a snapshot published once a second and at the end).
public final class SplitProxy {
    /// What the proxy needs from the config.
    public struct Settings: Sendable {
        public var split: SplitSettings
        /// TCP keepalive: probes after `split.keepaliveSeconds`, this often, this many times.
        public var keepaliveInterval: Int32 = 10
        public var keepaliveCount: Int32 = 6

        /// Settings from the config's `split` section.
        public init(_ split: SplitSettings) { self.split = split }
    }

    /// Stops a running proxy from another thread.
    public final class Control: Sendable {
        let wakeup: Wakeup
        private let stopping = NIOLockedValueBox(false)
        init(wakeup: Wakeup) { self.wakeup = wakeup }

        /// Makes `run()` reset every relayed connection, close its listeners and return.
        public func requestStop() {
            stopping.withLockedValue { $0 = true }
            wakeup.signal()
        }

        var isStopping: Bool { stopping.withLockedValue { $0 } }
    }

    public let control: Control
    /// The latest counters, for other threads.
    public let counters = NIOLockedValueBox(SplitCounters())

    private let settings: Settings
    private let loop: EventLoop
    private let localListener: Int32
    private let tunnelListener: Int32
    private var slots: [Relay?] = []
    private var freeSlots: [Int] = []
    private var nextGeneration: UInt32 = 1
    private var tally = SplitCounters()
    /// A descriptor kept in reserve: when accept fails for want of descriptors, closing it lets
    /// the proxy accept the waiting connection and reset it, instead of spinning on a listener
    /// that stays readable.
    private var reserve: Int32 = -1
    /// The process's descriptor limit after `init` raised it to the hard limit.
    public let descriptorLimit: Int

    private static let wakeupToken = 0
    private static let localListenerToken = 1
    private static let tunnelListenerToken = 2
    private static let relayTokenBase = 16
    private static let sweepInterval: UInt64 = 1_000_000_000
    private static let epollOut: UInt32 = 0x004
    private static let epollError: UInt32 = 0x008
    private static let epollReadHangUp: UInt32 = 0x2000

    /// Opens both listeners (`split.listenPort` for the local site, the next port for the
    /// tunnel). Needs CAP_NET_ADMIN or CAP_NET_RAW, for IP_TRANSPARENT.
    public init(settings: Settings) throws(IOError) {
        self.settings = settings
        // splice(2) into a socket the peer has reset raises SIGPIPE, and unlike send(2) it has no
        // MSG_NOSIGNAL: without this a client's reset would kill the daemon. EPIPE is handled.
        signal(SIGPIPE, SIG_IGN)
        // Six descriptors per relay (two sockets, two pipes): the default soft limit of 1024 would
        // cap the proxy near 170 connections, so take what the hard limit allows.
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        descriptorLimit = Int(clamping: limit.rlim_cur)
        reserve = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
        loop = try EventLoop(maxEvents: 256)
        control = Control(wakeup: try loop.makeWakeup(token: Self.wakeupToken))
        let backlog = Int32(min(settings.split.maxConnections, 4096))
        let local = crelay_listen_transparent(settings.split.listenPort, backlog)
        guard local >= 0 else {
            throw IOError(.bind, errno: -local, operation: "transparent TCP listener on port \(settings.split.listenPort)")
        }
        let tunnel = crelay_listen_transparent(settings.split.listenPort + 1, backlog)
        guard tunnel >= 0 else {
            close(local)
            throw IOError(.bind, errno: -tunnel, operation: "transparent TCP listener on port \(settings.split.listenPort + 1)")
        }
        localListener = local
        tunnelListener = tunnel
        do {
            try loop.register(local, token: Self.localListenerToken)
            try loop.register(tunnel, token: Self.tunnelListenerToken)
        } catch {
            close(local)
            close(tunnel)
            throw error
        }
        // Fails here, at start, when the kernel lacks the congestion control the config names.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        let rc = crelay_tune(probe, settings.split.wanCongestion, 0)
        guard rc == 0 else {
            close(local)
            close(tunnel)
            throw IOError(
                code: .socketOption, errno: -rc,
                message: "wan-congestion \(settings.split.wanCongestion): the kernel refuses it (\(String(cString: strerror(-rc)))); see /proc/sys/net/ipv4/tcp_available_congestion_control")
        }
    }

    deinit {
        close(localListener)
        close(tunnelListener)
        if reserve >= 0 { close(reserve) }
    }

    /// Descriptors `max-connections` relays need, with room for the daemon's own.
    public var descriptorsNeeded: Int { 6 * settings.split.maxConnections + 256 }

    /// Relays until `control.requestStop()`; then resets every open connection, so both end
    /// hosts learn at once that it failed instead of waiting for a timeout.
    public func run() throws(IOError) {
        var nextSweep = MonotonicClock.now() + Self.sweepInterval
        while !control.isStopping {
            let now = MonotonicClock.now()
            let timeout = nextSweep > now ? nextSweep - now : 0
            let events = try loop.wait(timeoutNanoseconds: timeout)
            for index in 0..<events.count {
                let event = events[index]
                switch event.token {
                case Self.wakeupToken: break
                case Self.localListenerToken: acceptAll(from: localListener, origin: .localSite)
                case Self.tunnelListenerToken: acceptAll(from: tunnelListener, origin: .tunnel)
                default: service(token: event.token, flags: event.flags)
                }
            }
            if MonotonicClock.now() >= nextSweep {
                sweepIdle(now: MonotonicClock.now())
                publish()
                nextSweep = MonotonicClock.now() + Self.sweepInterval
            }
        }
        for slot in slots.indices where slots[slot] != nil { end(slot: slot, reset: true) }
        publish()
    }

    private func publish() {
        tally.active = UInt64(slots.count - freeSlots.count)
        let snapshot = tally
        counters.withLockedValue { $0 = snapshot }
    }

    // MARK: accepting

    private func acceptAll(from listener: Int32, origin: Relay.Origin) {
        while true {
            var localAddress: UInt32 = 0, localPort: UInt16 = 0, remoteAddress: UInt32 = 0, remotePort: UInt16 = 0
            let fd = crelay_accept(listener, &localAddress, &localPort, &remoteAddress, &remotePort)
            if fd == -EAGAIN || fd == -EWOULDBLOCK { return }
            // ECONNABORTED and friends: that one connection is gone; EMFILE: try again on the next wakeup.
            if fd == -EMFILE || fd == -ENFILE {
                tally.refusedFull += 1
                guard reserve >= 0 else { return }
                close(reserve)
                var a: UInt32 = 0, b: UInt16 = 0, c: UInt32 = 0, d: UInt16 = 0
                let refused = crelay_accept(listener, &a, &b, &c, &d)
                if refused >= 0 { crelay_reset(refused) }
                reserve = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
                if refused < 0 { return }
                continue
            }
            if fd < 0 { continue }
            switch origin {
            case .localSite: tally.acceptedLocal += 1
            case .tunnel: tally.acceptedTunnel += 1
            }
            guard slots.count - freeSlots.count < settings.split.maxConnections else {
                tally.refusedFull += 1
                crelay_reset(fd)
                continue
            }
            open(accepted: fd, origin: origin, from: (remoteAddress, remotePort), to: (localAddress, localPort))
        }
    }

    /// Starts the onward leg with the accepted leg's own addresses: the client's as source, its
    /// original destination as destination.
    private func open(accepted: Int32, origin: Relay.Origin, from source: (UInt32, UInt16), to destination: (UInt32, UInt16)) {
        let split = settings.split
        // The WAN leg gets buffers for the long path and the operator's congestion control.
        let onward: Int32
        switch origin {
        case .localSite:
            onward = crelay_connect_transparent(source.0, source.1, destination.0, destination.1, split.wanCongestion, Int32(split.wanBuffer))
        case .tunnel:
            _ = crelay_tune(accepted, split.wanCongestion, Int32(split.wanBuffer))
            onward = crelay_connect_transparent(source.0, source.1, destination.0, destination.1, nil, 0)
        }
        guard onward >= 0 else {
            tally.connectFailed += 1
            crelay_reset(accepted)
            return
        }
        for fd in [accepted, onward] {
            _ = crelay_keepalive(fd, Int32(split.keepaliveSeconds), settings.keepaliveInterval, settings.keepaliveCount, 0)
        }
        var forwardPipe: [Int32] = [-1, -1]
        var backwardPipe: [Int32] = [-1, -1]
        let forwardCapacity = crelay_pipe(&forwardPipe, Int32(split.buffer))
        let backwardCapacity = forwardCapacity < 0 ? forwardCapacity : crelay_pipe(&backwardPipe, Int32(split.buffer))
        guard forwardCapacity >= 0, backwardCapacity >= 0 else {
            if forwardCapacity >= 0 { close(forwardPipe[0]); close(forwardPipe[1]) }
            tally.refusedFull += 1
            crelay_reset(accepted)
            crelay_reset(onward)
            return
        }
        let generation = nextGeneration
        nextGeneration &+= 1
        let relay = Relay(
            accepted: accepted, onward: onward, origin: origin,
            forward: RelayDirection(pipeRead: forwardPipe[0], pipeWrite: forwardPipe[1], capacity: Int(forwardCapacity)),
            backward: RelayDirection(pipeRead: backwardPipe[0], pipeWrite: backwardPipe[1], capacity: Int(backwardCapacity)),
            lastActivity: MonotonicClock.now(), generation: generation)
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = relay
        } else {
            slot = slots.count
            slots.append(relay)
        }
        let interest: EventLoop.Interest = [.readable, .writable, .edgeTriggered, EventLoop.Interest(rawValue: Self.epollReadHangUp)]
        do {
            try loop.register(accepted, token: Self.token(slot: slot, generation: generation, onward: false), interest: interest)
            try loop.register(onward, token: Self.token(slot: slot, generation: generation, onward: true), interest: interest)
        } catch {
            end(slot: slot, reset: true)
        }
    }

    // MARK: relaying

    private static func token(slot: Int, generation: UInt32, onward: Bool) -> Int {
        relayTokenBase + (Int(generation) << 24 | slot << 1 | (onward ? 1 : 0))
    }

    private func service(token: Int, flags: UInt32) {
        let raw = token - Self.relayTokenBase
        let slot = (raw & 0xFF_FFFF) >> 1
        let isOnward = raw & 1 == 1
        let generation = UInt32(truncatingIfNeeded: raw >> 24)
        guard slot < slots.count, var relay = slots[slot], relay.generation == generation else { return }
        if relay.phase == .connecting {
            // The accepted leg's bytes wait in its socket until the onward leg is up.
            guard isOnward else {
                if flags & Self.epollError != 0 { end(slot: slot, reset: true) }
                return
            }
            let error = crelay_socket_error(relay.onward)
            if error != 0 {
                tally.connectFailed += 1
                end(slot: slot, reset: true, counted: true)
                return
            }
            guard flags & Self.epollOut != 0 else { return }
            relay.phase = .relaying
        }
        var moved = 0
        switch relay.forward.pump(from: relay.accepted, to: relay.onward) {
        case .moved(let bytes):
            moved += bytes
            tally.bytesForward += UInt64(bytes)
        case .failed:
            slots[slot] = relay
            end(slot: slot, reset: true)
            return
        }
        switch relay.backward.pump(from: relay.onward, to: relay.accepted) {
        case .moved(let bytes):
            moved += bytes
            tally.bytesBackward += UInt64(bytes)
        case .failed:
            slots[slot] = relay
            end(slot: slot, reset: true)
            return
        }
        if moved > 0 { relay.lastActivity = MonotonicClock.now() }
        slots[slot] = relay
        if relay.isFinished { end(slot: slot, reset: false) }
    }

    /// Frees a slot: resets both legs, or closes them in order once both FINs have passed.
    private func end(slot: Int, reset: Bool, counted: Bool = false) {
        guard let relay = slots[slot] else { return }
        if reset {
            if !counted { tally.reset += 1 }
            relay.reset()
        } else {
            tally.closed += 1
            relay.close()
        }
        slots[slot] = nil
        freeSlots.append(slot)
    }

    private func sweepIdle(now: UInt64) {
        let limit = settings.split.idleTimeout
        for slot in slots.indices {
            guard let relay = slots[slot], now &- relay.lastActivity > limit else { continue }
            tally.idleClosed += 1
            end(slot: slot, reset: true, counted: true)
        }
    }
}
