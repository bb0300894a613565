/// Why a datagram could not be read as a Maelstrom frame.
///
/// The message is a static string so that refusing a flood of garbage allocates nothing.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong with the datagram.
    public enum Code: String, Sendable, CaseIterable {
        case truncated = "wire.truncated"
        case unknownVersion = "wire.version"
        case unknownType = "wire.type"
        case badChecksum = "wire.checksum"
        case emptyPayload = "wire.empty-payload"
        case badRepairDescription = "wire.repair-description"
        case sealed = "wire.sealed"
        case laneOutOfRange = "wire.lane"
        case notSealed = "wire.not-sealed"
        case badLossReport = "wire.loss-report"
    }

    /// What was wrong.
    public let code: Code

    /// Creates an error for `code`.
    public init(_ code: Code) { self.code = code }

    /// A sentence describing the problem.
    public var message: String {
        switch code {
        case .truncated: "datagram shorter than the header its type needs"
        case .unknownVersion: "unknown protocol version"
        case .unknownType: "unknown frame type"
        case .badChecksum: "header checksum does not match"
        case .emptyPayload: "data or repair frame without payload"
        case .badRepairDescription: "repair with zero members, zero stride or a layer out of range"
        case .sealed: "sealed frame where a plaintext one was expected, or unknown flags"
        case .laneOutOfRange: "sender lane beyond the largest lane count"
        case .notSealed: "plaintext frame where a sealed one was expected"
        case .badLossReport: "loss report with more lost or unrecovered packets than expected, or an unknown flag set"
        }
    }

    /// The code followed by the message.
    public var description: String { "\(code.rawValue): \(message)" }
}
