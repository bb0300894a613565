/// Which counters of one sender have been accepted: RFC 6479's bitmap without bit shifting.
///
/// Counter `s` owns bit `s mod 64` of block `(s / 64) mod blocks`; the window slides by zeroing
/// whole blocks as they come back into use, so a step costs O(1) and a jump at most one pass over
/// the blocks. One block stays unused, so the window is `(blocks − 1) · 64` counters: 65,472
/// with 1,024 blocks (8 KiB), enough for the reordering of a full lane at a million datagrams per
/// second for 65 ms. Counters further behind the newest are refused, as are repeats.
///
/// Owned by one lane (one thread); allocates only in `init`.
final class ReplayWindow {
    /// Blocks of 64 bits; a power of two.
    static let blocks = 1024
    /// How far behind the newest accepted counter a counter may be and still be accepted.
    static let size: UInt64 = UInt64(blocks - 1) * 64

    private let bits: UnsafeMutablePointer<UInt64>
    /// The newest counter accepted; meaningless while `empty`.
    private var newest: UInt64 = 0
    private var empty = true

    init() {
        bits = .allocate(capacity: Self.blocks)
        bits.initialize(repeating: 0, count: Self.blocks)
    }

    deinit { bits.deallocate() }

    /// Whether `counter` would be accepted now (read only: call before authenticating, to skip
    /// the work for a datagram that will be refused anyway).
    @inline(__always)
    func mayAccept(_ counter: UInt64) -> Bool {
        if empty || counter > newest { return true }
        guard newest &- counter <= Self.size else { return false }
        let block = Int(truncatingIfNeeded: (counter >> 6)) & (Self.blocks - 1)
        return bits[block] & (1 << (counter & 63)) == 0
    }

    /// Records `counter` of an authenticated datagram; false for a repeat or one too old.
    /// Never call it before the datagram has authenticated: a forged counter would move the window.
    @inline(__always)
    func accept(_ counter: UInt64) -> Bool {
        if empty || counter > newest {
            let newBlock = counter >> 6
            if empty {
                bits.update(repeating: 0, count: Self.blocks)
            } else {
                let oldBlock = newest >> 6
                // Zero the blocks the window moves into; a jump of a whole ring or more clears all.
                let steps = min(newBlock &- oldBlock, UInt64(Self.blocks))
                var step: UInt64 = 1
                while step <= steps {
                    bits[Int(truncatingIfNeeded: oldBlock &+ step) & (Self.blocks - 1)] = 0
                    step &+= 1
                }
            }
            newest = counter
            empty = false
        } else if newest &- counter > Self.size {
            return false
        }
        let block = Int(truncatingIfNeeded: counter >> 6) & (Self.blocks - 1)
        let mask: UInt64 = 1 << (counter & 63)
        guard bits[block] & mask == 0 else { return false }
        bits[block] |= mask
        return true
    }
}
