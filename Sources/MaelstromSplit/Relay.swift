import CRelay
import Glibc

/// One direction of a relayed connection: bytes spliced from `source` into a pipe and from the
/// pipe into `destination`, and how far each end has got.
struct RelayDirection {
    /// The pipe between the legs: read end, write end, capacity.
    let pipeRead: Int32
    let pipeWrite: Int32
    let capacity: Int
    /// Bytes in the pipe, not yet written to the destination.
    var buffered = 0
    /// The source sent its FIN (a read returned 0).
    var sourceEnded = false
    /// The FIN has been passed on (`shutdown(SHUT_WR)` on the destination).
    var finished = false

    /// The outcome of moving what can be moved without blocking.
    enum Progress {
        /// Moved `bytes` (maybe 0) and would block now, or is done.
        case moved(bytes: Int)
        /// A leg failed (reset, broken pipe): the connection must be reset.
        case failed(errno: Int32)
    }

    /// Splices until the source has nothing, the pipe is full and the destination takes nothing,
    /// or the stream has ended; passes the end on once the pipe is empty.
    mutating func pump(from source: Int32, to destination: Int32) -> Progress {
        var moved = 0
        while true {
            var progressed = false
            if !sourceEnded && buffered < capacity {
                let n = crelay_splice(source, pipeWrite, UInt(capacity - buffered))
                if n > 0 {
                    buffered += n
                    progressed = true
                } else if n == 0 {
                    sourceEnded = true
                    progressed = true
                } else if n != -Int(EAGAIN) {
                    return .failed(errno: Int32(-n))
                }
            }
            if buffered > 0 {
                let n = crelay_splice(pipeRead, destination, UInt(buffered))
                if n > 0 {
                    buffered -= n
                    moved += n
                    progressed = true
                } else if n < 0 && n != -Int(EAGAIN) {
                    return .failed(errno: Int32(-n))
                }
            }
            if sourceEnded && buffered == 0 && !finished {
                let rc = crelay_shutdown_write(destination)
                // ENOTCONN: the destination has gone already; its own read reports how.
                if rc != 0 && rc != -ENOTCONN { return .failed(errno: -rc) }
                finished = true
            }
            if !progressed || finished { return .moved(bytes: moved) }
        }
    }

    func closePipe() {
        close(pipeRead)
        close(pipeWrite)
    }
}

/// A connection the proxy relays: the leg it accepted and the leg it opened onward.
struct Relay {
    /// Where the accepted connection came from.
    enum Origin {
        /// From the local site, bound for a split peer: the onward leg crosses the WAN.
        case localSite
        /// From the tunnel, split by the peer gateway: the accepted leg is the WAN leg.
        case tunnel
    }

    /// Where the relay is in its life.
    enum Phase {
        /// The onward connection is being made; nothing is relayed yet.
        case connecting
        /// Both legs are open; bytes flow.
        case relaying
    }

    let accepted: Int32
    let onward: Int32
    let origin: Origin
    var phase: Phase = .connecting
    /// accepted → onward.
    var forward: RelayDirection
    /// onward → accepted.
    var backward: RelayDirection
    /// When a byte last moved (or the relay was made), on the monotonic clock.
    var lastActivity: UInt64
    /// Distinguishes this relay's epoll tokens from those of an earlier relay in the same slot.
    let generation: UInt32

    /// True once both directions have passed their FIN on: the connection ended in order.
    var isFinished: Bool { forward.finished && backward.finished }

    /// Resets both legs (the peers see RST) and frees the pipes.
    func reset() {
        crelay_reset(accepted)
        crelay_reset(onward)
        forward.closePipe()
        backward.closePipe()
    }

    /// Closes both legs in order (their FINs have been sent) and frees the pipes.
    func close() {
        Glibc.close(accepted)
        Glibc.close(onward)
        forward.closePipe()
        backward.closePipe()
    }
}
