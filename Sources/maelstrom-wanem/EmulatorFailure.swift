/// A failure the emulator reports as one line with its own exit code.
struct EmulatorFailure: Error, CustomStringConvertible {
    /// What kind of failure, which decides the exit code.
    enum Code {
        /// The command line or a file it names was wrong (exit 2).
        case badInput
        /// The emulator could not start or its device failed (exit 1).
        case io
    }

    /// What kind of failure.
    let code: Code
    /// One line saying what went wrong.
    let message: String

    /// 2 for bad input, as for argument errors; 1 when the system refused.
    var exitCode: Int32 { code == .badInput ? 2 : 1 }

    /// The message.
    var description: String { message }

    /// A failure caused by the user's input.
    static func badInput(_ message: String) -> EmulatorFailure { EmulatorFailure(code: .badInput, message: message) }
    /// A failure of the system underneath.
    static func io(_ message: String) -> EmulatorFailure { EmulatorFailure(code: .io, message: message) }
}
