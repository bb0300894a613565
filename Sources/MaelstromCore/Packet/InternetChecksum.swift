/// The Internet checksum (RFC 1071): the ones'-complement sum of 16-bit big-endian words.
///
/// Sums 64-bit native words with end-around carry and swaps bytes once at the end, which is the
/// same sum (ones'-complement addition commutes with the byte order of the words), several
/// times faster than a 16-bit loop.
public enum InternetChecksum {
    /// The unfolded sum of `count` bytes at `bytes`, added to `initial` (a value from `sum` or
    /// `pseudoHeaderSum`, or 0). Pass the result to `fold`.
    @inlinable
    public static func sum(_ bytes: UnsafeRawPointer, count: Int, initial: UInt64 = 0) -> UInt64 {
        // No local function for the add: a debug build boxes the variables it captures on the heap.
        var accumulator = initial
        var carries: UInt64 = 0
        var offset = 0
        var overflow = false
        while offset &+ 32 <= count {
            (accumulator, overflow) = accumulator.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            carries &+= overflow ? 1 : 0
            (accumulator, overflow) = accumulator.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self))
            carries &+= overflow ? 1 : 0
            (accumulator, overflow) = accumulator.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self))
            carries &+= overflow ? 1 : 0
            (accumulator, overflow) = accumulator.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self))
            carries &+= overflow ? 1 : 0
            offset &+= 32
        }
        while offset &+ 8 <= count {
            (accumulator, overflow) = accumulator.addingReportingOverflow(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            carries &+= overflow ? 1 : 0
            offset &+= 8
        }
        var tail: UInt64 = 0
        if offset &+ 4 <= count {
            tail &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset &+= 4
        }
        if offset &+ 2 <= count {
            tail &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset &+= 2
        }
        if offset < count {
            // A last odd byte is the high byte of a big-endian word padded with zero.
            tail &+= UInt64(UInt16(bigEndian: UInt16(bytes.load(fromByteOffset: offset, as: UInt8.self)) << 8))
        }
        (accumulator, overflow) = accumulator.addingReportingOverflow(tail)
        carries &+= overflow ? 1 : 0
        return foldToNative(accumulator, carries: carries)
    }

    /// Copies `count` bytes from `source` to `destination` and returns their sum (as `sum` would),
    /// in one pass: the bytes are read once instead of once to copy and once to sum.
    @inlinable
    public static func copyAndSum(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, count: Int) -> UInt64 {
        var accumulator: UInt64 = 0
        var carries: UInt64 = 0
        var overflow = false
        var offset = 0
        while offset &+ 8 <= count {
            let word = source.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            destination.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
            (accumulator, overflow) = accumulator.addingReportingOverflow(word)
            carries &+= overflow ? 1 : 0
            offset &+= 8
        }
        let rest = count &- offset
        if rest > 0 {
            (destination + offset).copyMemory(from: source + offset, byteCount: rest)
            return sum(source + offset, count: rest, initial: foldToNative(accumulator, carries: carries))
        }
        return foldToNative(accumulator, carries: carries)
    }

    /// Folds an unfolded sum into the 16-bit ones'-complement sum, in network order (not inverted).
    @inlinable
    public static func fold(_ sum: UInt64) -> UInt16 {
        var value = sum
        while value >> 16 != 0 { value = (value & 0xFFFF) &+ (value >> 16) }
        // Native words summed natively: read the 16 bits back as the big-endian word they are.
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: value))
    }

    /// The checksum to store: the inverted folded sum.
    @inlinable
    public static func checksum(_ sum: UInt64) -> UInt16 { ~fold(sum) }

    /// The sum of the IPv4 or IPv6 pseudo header for an upper-layer packet of `length` bytes of
    /// protocol `proto`, with the addresses taken from the IP header at `ip` (version in its first byte).
    @inlinable
    public static func pseudoHeaderSum(ip: UnsafeRawPointer, proto: UInt8, length: Int) -> UInt64 {
        let isIPv4 = ip.load(as: UInt8.self) >> 4 == 4
        let addresses = isIPv4 ? sum(ip + 12, count: 8) : sum(ip + 8, count: 32)
        // (0, proto) and the length, as big-endian 16-bit words seen natively.
        let tail = UInt64(UInt16(proto).bigEndian) &+ UInt64(UInt16(truncatingIfNeeded: length).bigEndian)
            &+ UInt64(UInt16(truncatingIfNeeded: length >> 16).bigEndian)
        return addresses &+ tail
    }

    /// Reduces a 64-bit sum with its carry count to a native 16-bit-word sum that fits 17 bits.
    @inlinable
    static func foldToNative(_ value: UInt64, carries: UInt64) -> UInt64 {
        var folded = (value & 0xFFFF_FFFF) &+ (value >> 32) &+ carries
        folded = (folded & 0xFFFF) &+ ((folded >> 16) & 0xFFFF) &+ (folded >> 32)
        return folded
    }
}

extension UnsafeMutableRawPointer {
    /// Stores a 16-bit value given in network order (as `InternetChecksum` returns it) at `offset`.
    @inlinable
    public func storeNetworkOrder(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }
}
