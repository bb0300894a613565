/// XOR kernels over raw bytes, the inner loop of both encoder and decoder.
///
/// Word-sized loads and stores (which LLVM vectorises) instead of byte loops or
/// `SIMD32<UInt8>`, which the engineering notes measured 100× slower.
@inlinable
@inline(__always)
public func xorBytes(into destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int) {
    var offset = 0
    // Four words per iteration gives the vectoriser a 32-byte body to work with.
    while offset &+ 32 <= count {
        let a0 = destination.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        let a1 = destination.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self)
        let a2 = destination.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
        let a3 = destination.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self)
        let b0 = source.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        let b1 = source.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self)
        let b2 = source.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self)
        let b3 = source.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self)
        destination.storeBytes(of: a0 ^ b0, toByteOffset: offset, as: UInt64.self)
        destination.storeBytes(of: a1 ^ b1, toByteOffset: offset &+ 8, as: UInt64.self)
        destination.storeBytes(of: a2 ^ b2, toByteOffset: offset &+ 16, as: UInt64.self)
        destination.storeBytes(of: a3 ^ b3, toByteOffset: offset &+ 24, as: UInt64.self)
        offset &+= 32
    }
    while offset &+ 8 <= count {
        let a = destination.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        let b = source.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        destination.storeBytes(of: a ^ b, toByteOffset: offset, as: UInt64.self)
        offset &+= 8
    }
    while offset < count {
        let a = destination.load(fromByteOffset: offset, as: UInt8.self)
        let b = source.load(fromByteOffset: offset, as: UInt8.self)
        destination.storeBytes(of: a ^ b, toByteOffset: offset, as: UInt8.self)
        offset &+= 1
    }
}

/// XORs `source` into each of `targetCount` destinations in one pass: the encoder's layers all
/// take the same packet, so each source vector is loaded once instead of once per layer.
/// Explicit 32-byte vectors (`SIMD4<UInt64>`, one AVX2 register): LLVM does not vectorise the
/// loop over targets on its own.
@inlinable
public func xorBytes(
    intoEach targets: UnsafePointer<UnsafeMutableRawPointer>, targetCount: Int, from source: UnsafeRawPointer, count: Int
) {
    typealias Vector = SIMD4<UInt64>
    var offset = 0
    switch targetCount {
    case 3:
        let a = targets[0], b = targets[1], c = targets[2]
        while offset &+ 32 <= count {
            let s = source.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            a.storeBytes(of: a.loadUnaligned(fromByteOffset: offset, as: Vector.self) ^ s, toByteOffset: offset, as: Vector.self)
            b.storeBytes(of: b.loadUnaligned(fromByteOffset: offset, as: Vector.self) ^ s, toByteOffset: offset, as: Vector.self)
            c.storeBytes(of: c.loadUnaligned(fromByteOffset: offset, as: Vector.self) ^ s, toByteOffset: offset, as: Vector.self)
            offset &+= 32
        }
    default:
        while offset &+ 32 <= count {
            let s = source.loadUnaligned(fromByteOffset: offset, as: Vector.self)
            var target = 0
            while target < targetCount {
                let destination = targets[target]
                destination.storeBytes(
                    of: destination.loadUnaligned(fromByteOffset: offset, as: Vector.self) ^ s, toByteOffset: offset, as: Vector.self)
                target &+= 1
            }
            offset &+= 32
        }
    }
    if offset < count {
        var target = 0
        while target < targetCount {
            xorBytes(into: targets[target] + offset, from: source + offset, count: count &- offset)
            target &+= 1
        }
    }
}
