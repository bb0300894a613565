import Foundation
import MaelstromCore

extension LossModel {
    /// Parses a loss model, reading `trace:FILE` from the file system (the core reads no files).
    public static func parseReadingTraceFiles(_ text: String) throws(LossModelError) -> LossModel {
        do {
            return try parse(text) { path in
                do {
                    return try String(contentsOfFile: path, encoding: .utf8)
                } catch {
                    throw LossModelError("trace \(path): cannot read the file (\(error.localizedDescription))")
                }
            }
        } catch let error as LossModelError {
            throw error
        } catch {
            throw LossModelError("loss model '\(text)': \(error)")
        }
    }
}
