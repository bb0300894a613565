/// How much the daemon logs; the raw values are swift-log's `Logger.Level` names, so
/// `Logger.Level(rawValue: level.rawValue)` converts without a table.
public enum LogLevel: String, Sendable, CaseIterable {
    /// Everything, including per-packet detail.
    case trace
    /// Diagnostic detail for developers.
    case debug
    /// Normal operational messages.
    case info
    /// Conditions worth noticing that need no action.
    case notice
    /// Problems the daemon works around.
    case warning
    /// Failures of one operation.
    case error
    /// Failures that stop the daemon.
    case critical
}
