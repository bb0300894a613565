import Foundation
import MaelstromCore

extension LossModel {
    /// Parses a loss model, reading `trace:FILE` from the file system (the core reads no files).
    public static func parseReadingTraceFiles(_ text: String) throws(LossModelError) -> LossModel {
        do {
            return try parse(text) { path in try readTraceFile(path) }
        } catch let error as LossModelError {
            throw error
        } catch {
            throw LossModelError("loss model '\(text)': \(error)")
        }
    }
}

/// The largest trace file read (one entry per packet: 64 MiB is 30 million packets or more).
let maxTraceFileBytes = 64 << 20

/// The text of a trace file, with errno's words for what went wrong (Foundation's are vague).
func readTraceFile(_ path: String) throws(LossModelError) -> String {
    func failure(_ reason: String) -> LossModelError { LossModelError("trace \(path): cannot read the file: \(reason)") }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw failure(String(cString: strerror(errno))) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw failure(String(cString: strerror(errno))) }
    if info.st_mode & S_IFMT == S_IFDIR { throw failure("it is a directory") }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw failure(String(cString: strerror(errno)))
        }
        if n == 0 { break }
        bytes += chunk[0..<n]
        if bytes.count > maxTraceFileBytes { throw failure("larger than \(maxTraceFileBytes) bytes") }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else { throw failure("not UTF-8 text") }
    return text
}
