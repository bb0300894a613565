/// A packet in memory with room around it: headroom in front for the frame's headers (and, read
/// from a TUN device with offloads, the virtio-net header), tailroom behind for an authentication
/// tag. Frames are built around the packet where it lies, without a copy.
public struct PacketBuffer {
    /// The packet.
    public var bytes: UnsafeMutableRawBufferPointer
    /// Writable bytes in front of `bytes`.
    public var headroom: Int
    /// Writable bytes after `bytes`.
    public var tailroom: Int

    /// Describes a packet and the room around it.
    public init(bytes: UnsafeMutableRawBufferPointer, headroom: Int, tailroom: Int) {
        self.bytes = bytes
        self.headroom = headroom
        self.tailroom = tailroom
    }

    /// A packet with no room around it: frames are then built in a copy.
    public init(bytes: UnsafeMutableRawBufferPointer) {
        self.init(bytes: bytes, headroom: 0, tailroom: 0)
    }

    /// Headroom that every packet slot of the daemon provides: the virtio-net header, the envelope
    /// and the data header fit, with room to spare for a longer envelope.
    public static let standardHeadroom = 64
    /// Tailroom that every packet slot provides: an AEAD tag fits.
    public static let standardTailroom = 32
}
