import Crypto
import MaelstromCore

/// The byte layout of the three handshake messages (docs/PROTOCOL.md, docs/SECURITY.md) and
/// the MACs that let a gateway refuse one before doing any expensive work.
///
/// Every message starts with the 16-byte envelope (version, type, lane 0, flags 0, then indices),
/// so a handshake message and a frame are told apart by their type byte alone. Integers are big-endian.
///
/// | type | message | layout after the envelope | bytes |
/// |---|---|---|---|
/// | 4 | initiation | e 32, encrypted static 48, encrypted timestamp and cipher offer 29, mac1 16, mac2 16 | 157 |
/// | 5 | response | e 32, encrypted cipher choice 17, mac1 16, mac2 16 | 97 |
/// | 6 | cookie reply | nonce 24, encrypted cookie 32 | 72 |
///
/// Envelope bytes 4–7 hold the sender's index (initiation, response) or the receiver's (cookie
/// reply); bytes 8–11 of a response hold the receiver's index (the initiator's).
public enum HandshakeWire {
    /// Type byte of an initiation.
    public static let initiationType: UInt8 = 4
    /// Type byte of a response.
    public static let responseType: UInt8 = 5
    /// Type byte of a cookie reply.
    public static let cookieReplyType: UInt8 = 6

    /// Bytes of an initiation.
    public static let initiationSize = 157
    /// Bytes of a response.
    public static let responseSize = 97
    /// Bytes of a cookie reply.
    public static let cookieReplySize = 72
    /// Bytes of a MAC and of a cookie.
    static let macBytes = 16

    /// The Noise prologue: binds every handshake to this protocol and version.
    static let prologue = Array("Maelstrom tunnel v3".utf8)

    /// Whether `type` is a handshake message's type byte.
    @inlinable
    public static func isHandshake(type: UInt8) -> Bool { type >= initiationType && type <= cookieReplyType }

    /// The size a handshake message of `type` must have.
    static func size(of type: UInt8) -> Int? {
        switch type {
        case initiationType: initiationSize
        case responseType: responseSize
        case cookieReplyType: cookieReplySize
        default: nil
        }
    }

    /// The key mac1 is made with for messages to the holder of `publicKey`: SHA-256("mac1----" ‖ key).
    static func mac1Key(for publicKey: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: Array("mac1----".utf8) + publicKey)) }

    /// The key a cookie reply from the holder of `publicKey` is sealed with: SHA-256("cookie--" ‖ key).
    static func cookieKey(for publicKey: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: Array("cookie--".utf8) + publicKey)) }

    /// Where a message's mac1 starts (its mac2 follows).
    static func mac1Offset(messageSize: Int) -> Int { messageSize - 2 * macBytes }

    /// Writes mac1 of the `count`-byte message at `message` with `key`.
    static func writeMAC1(_ message: UnsafeMutableRawPointer, count: Int, key: [UInt8]) {
        let offset = mac1Offset(messageSize: count)
        key.withUnsafeBytes { key in
            Sodium.hmacSHA256(
                key: key, message: UnsafeRawBufferPointer(start: message, count: offset),
                into: UnsafeMutableRawBufferPointer(start: message + offset, count: macBytes))
        }
    }

    /// Writes into an initiation or a response the mac1 a gateway whose `SecureTunnel.mac1Key`
    /// is `mac1Key` expects; other messages are left as they are. For fuzzers and tests that forge
    /// messages past the lanes' cheap check, to reach the Noise code behind it.
    public static func stampMAC1(_ message: UnsafeMutableRawBufferPointer, mac1Key: [UInt8]) {
        guard message.count >= WireFormat.envelopeSize, let base = message.baseAddress,
            let size = size(of: base.load(fromByteOffset: 1, as: UInt8.self)), size == message.count,
            size != cookieReplySize
        else { return }
        writeMAC1(base, count: size, key: mac1Key)
    }

    /// Writes mac2 with `cookie`, or zeros without one.
    static func writeMAC2(_ message: UnsafeMutableRawPointer, count: Int, cookie: [UInt8]?) {
        let offset = count - macBytes
        guard let cookie else {
            (message + offset).initializeMemory(as: UInt8.self, repeating: 0, count: macBytes)
            return
        }
        cookie.withUnsafeBytes { key in
            Sodium.hmacSHA256(
                key: key, message: UnsafeRawBufferPointer(start: message, count: offset),
                into: UnsafeMutableRawBufferPointer(start: message + offset, count: macBytes))
        }
    }

    /// Whether the message's mac1 is right for `key` (constant time). Cheap: lanes check it for
    /// every handshake message before anything else looks at it.
    public static func verifyMAC1(_ message: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> Bool {
        let offset = mac1Offset(messageSize: message.count)
        guard offset > WireFormat.envelopeSize else { return false }
        return verifyMAC(message, covering: offset, key: key)
    }

    /// Whether the message's mac2 is right for `cookie`.
    static func verifyMAC2(_ message: UnsafeRawBufferPointer, cookie: [UInt8]) -> Bool {
        cookie.withUnsafeBytes { verifyMAC(message, covering: message.count - macBytes, key: $0) }
    }

    private static func verifyMAC(_ message: UnsafeRawBufferPointer, covering offset: Int, key: UnsafeRawBufferPointer) -> Bool {
        var expected = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &expected) { expected in
            Sodium.hmacSHA256(key: key, message: UnsafeRawBufferPointer(rebasing: message[0..<offset]), into: expected)
            return Sodium.equal(UnsafeRawBufferPointer(expected), UnsafeRawBufferPointer(rebasing: message[offset..<(offset + macBytes)]))
        }
    }

    /// Writes the envelope of a handshake message.
    static func writeEnvelope(_ message: UnsafeMutableRawPointer, type: UInt8, index: UInt32, secondIndex: UInt32 = 0) {
        message.initializeMemory(as: UInt8.self, repeating: 0, count: WireFormat.envelopeSize)
        message.storeBytes(of: WireFormat.version, toByteOffset: 0, as: UInt8.self)
        message.storeBytes(of: type, toByteOffset: 1, as: UInt8.self)
        message.storeBigEndian(index, at: 4)
        message.storeBigEndian(secondIndex, at: 8)
    }

    /// The TAI64N label of `wallNanoseconds` (Unix time): 8 bytes of seconds since TAI's 1970
    /// epoch plus 2⁶², then 4 bytes of nanoseconds with the low 24 bits cleared, so the label
    /// does not give away the sender's clock more finely than about 17 ms. Big-endian both, so
    /// byte order is time order.
    static func timestamp(wallNanoseconds: UInt64) -> [UInt8] {
        let seconds = 0x4000_0000_0000_000A &+ wallNanoseconds / 1_000_000_000
        let nanoseconds = UInt32(wallNanoseconds % 1_000_000_000) & ~0xFF_FFFF
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { raw in
            raw.baseAddress!.storeBigEndian(seconds, at: 0)
            raw.baseAddress!.storeBigEndian(nanoseconds, at: 8)
        }
        return bytes
    }

    /// The bytes a cookie is computed over: the source's address family, address and port.
    static func sourceBytes(_ source: Endpoint) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 19)
        bytes.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            switch source.address {
            case .v4(let address):
                base.storeBytes(of: 4, as: UInt8.self)
                base.storeBigEndian(address, at: 1)
            case .v6(let high, let low):
                base.storeBytes(of: 6, as: UInt8.self)
                base.storeBigEndian(high, at: 1)
                base.storeBigEndian(low, at: 9)
            }
            base.storeBigEndian(source.port, at: 17)
        }
        return bytes
    }
}
