/// How a gateway's frames cross the WAN: the config's `security` setting as the gateway logic sees it.
public enum FrameProtection: Sendable, Equatable {
    /// Flags 0 and a header checksum; nothing is authenticated (`security: none`).
    case plaintext
    /// Sealed with AEAD by the lane's security layer after the gateway has built the frame, and
    /// opened (authenticated, tag stripped) by it before the gateway sees one.
    case sealed
}
