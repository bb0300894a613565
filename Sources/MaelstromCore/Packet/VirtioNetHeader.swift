/// The 10-byte virtio-net header a TUN device with `IFF_VNET_HDR` puts in front of every packet
/// (`struct virtio_net_hdr`, little-endian on every Linux target we run on): whether the packet is
/// a super-segment to be cut at `gsoSize`, and whether its transport checksum is left partial.
public struct VirtioNetHeader: Sendable, Equatable {
    /// `flags`: the checksum at `checksumStart + checksumOffset` holds only the pseudo-header sum.
    public static let needsChecksum: UInt8 = 0x01
    /// `flags`: the checksum was verified already.
    public static let dataValid: UInt8 = 0x02

    /// What kind of super-segment, if any.
    public enum GSOType: UInt8, Sendable {
        /// One packet.
        case none = 0
        /// TCP over IPv4.
        case tcpv4 = 1
        /// TCP over IPv6.
        case tcpv6 = 4
        /// UDP (USO), either IP version.
        case udpL4 = 5
    }

    /// Size of the header on the wire of the TUN device.
    public static let size = 10

    /// `NEEDS_CSUM` and friends.
    public var flags: UInt8
    /// The raw `gso_type` byte (an ECN bit may be set on top of the type).
    public var gsoTypeRaw: UInt8
    /// Length of the headers (a hint on reads).
    public var headerLength: UInt16
    /// Payload bytes per segment.
    public var gsoSize: UInt16
    /// Offset of the transport header.
    public var checksumStart: UInt16
    /// Offset of the checksum field from `checksumStart` (16 for TCP, 6 for UDP).
    public var checksumOffset: UInt16

    /// A header; all zero describes one packet with a complete checksum.
    public init(
        flags: UInt8 = 0, gsoType: GSOType = .none, headerLength: UInt16 = 0, gsoSize: UInt16 = 0,
        checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0
    ) {
        self.flags = flags
        self.gsoTypeRaw = gsoType.rawValue
        self.headerLength = headerLength
        self.gsoSize = gsoSize
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
    }

    /// The segmentation type, or nil for one this code does not handle (ECN, UFO).
    @inlinable
    public var gsoType: GSOType? { GSOType(rawValue: gsoTypeRaw) }

    /// Reads the header at `pointer`.
    @inlinable
    public init(reading pointer: UnsafeRawPointer) {
        flags = pointer.load(as: UInt8.self)
        gsoTypeRaw = pointer.load(fromByteOffset: 1, as: UInt8.self)
        headerLength = UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        gsoSize = UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        checksumStart = UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        checksumOffset = UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
    }

    /// Writes the header at `pointer`.
    @inlinable
    public func write(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: flags, as: UInt8.self)
        pointer.storeBytes(of: gsoTypeRaw, toByteOffset: 1, as: UInt8.self)
        pointer.storeBytes(of: headerLength.littleEndian, toByteOffset: 2, as: UInt16.self)
        pointer.storeBytes(of: gsoSize.littleEndian, toByteOffset: 4, as: UInt16.self)
        pointer.storeBytes(of: checksumStart.littleEndian, toByteOffset: 6, as: UInt16.self)
        pointer.storeBytes(of: checksumOffset.littleEndian, toByteOffset: 8, as: UInt16.self)
    }
}
