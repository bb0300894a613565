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
        // 32-bit words widened into 64-bit lanes never carry (2³² of them would be needed), so
        // the loop is eight independent additions per 32 bytes: explicit vectors, one AVX2
        // register wide. (No local function: a debug build would box what it captures.)
        var lanes = SIMD8<UInt64>(repeating: 0)
        var offset = 0
        while offset &+ 32 <= count {
            lanes &+= SIMD8<UInt64>(truncatingIfNeeded: bytes.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt32>.self))
            offset &+= 32
        }
        var accumulator = initial &+ lanes.wrappedSum()
        // Headers (20–44 bytes) end here: 8 bytes a step, as two 32-bit words.
        while offset &+ 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            accumulator &+= (word & 0xFFFF_FFFF) &+ (word >> 32)
            offset &+= 8
        }
        if offset &+ 4 <= count {
            accumulator &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset &+= 4
        }
        if offset &+ 2 <= count {
            accumulator &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset &+= 2
        }
        if offset < count {
            // A last odd byte is the high byte of a big-endian word padded with zero.
            accumulator &+= UInt64(UInt16(bigEndian: UInt16(bytes.load(fromByteOffset: offset, as: UInt8.self)) << 8))
        }
        return foldToNative(accumulator, carries: 0)
    }

    /// Copies `count` bytes from `source` to `destination` and returns their sum (as `sum` would),
    /// in one pass: the bytes are read once instead of once to copy and once to sum.
    @inlinable
    public static func copyAndSum(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, count: Int) -> UInt64 {
        var lanes = SIMD8<UInt64>(repeating: 0)
        var offset = 0
        while offset &+ 32 <= count {
            let words = source.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt32>.self)
            destination.storeBytes(of: words, toByteOffset: offset, as: SIMD8<UInt32>.self)
            lanes &+= SIMD8<UInt64>(truncatingIfNeeded: words)
            offset &+= 32
        }
        let rest = count &- offset
        let accumulator = foldToNative(lanes.wrappedSum(), carries: 0)
        guard rest > 0 else { return accumulator }
        (destination + offset).copyMemory(from: source + offset, byteCount: rest)
        return sum(source + offset, count: rest, initial: accumulator)
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
