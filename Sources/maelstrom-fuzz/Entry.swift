import Foundation
import MaelstromFuzzTargets

// Built two ways. With `-DFUZZING` and `-sanitize=fuzzer` (scripts/fuzz.sh), libFuzzer owns `main`
// and calls the target named by MAELSTROM_FUZZ_TARGET; a finding aborts, so libFuzzer keeps the
// input. Without, this is a runner that feeds files to a target: how a finding is reproduced.

#if FUZZING
nonisolated(unsafe) private var selected: FuzzTarget = .frame

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>>>) -> CInt {
    let name = ProcessInfo.processInfo.environment["MAELSTROM_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("maelstrom-fuzz: set MAELSTROM_FUZZ_TARGET to one of \(names) (got '\(name)')\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    do {
        try selected.run(UnsafeRawBufferPointer(start: data, count: size))
    } catch {
        FileHandle.standardError.write(Data("maelstrom-fuzz: finding: \(error)\n".utf8))
        abort()
    }
    return 0
}
#else
@main
enum FuzzRunner {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        if arguments.count == 2, arguments[0] == "--write-seeds" {
            writeSeeds(into: arguments[1])
            return
        }
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[0]) else {
            FileHandle.standardError.write(Data("usage: maelstrom-fuzz \(names) FILE-OR-DIRECTORY...\n       maelstrom-fuzz --write-seeds DIRECTORY\n".utf8))
            exit(2)
        }
        var inputs = 0
        var findings = 0
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                guard let bytes = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("maelstrom-fuzz: cannot read \(file)\n".utf8))
                    exit(2)
                }
                inputs += 1
                do {
                    try target.run(Array(bytes))
                } catch {
                    findings += 1
                    print("\(file): \(error)")
                }
            }
        }
        print("\(target.rawValue): \(inputs) inputs, \(findings) findings")
        exit(findings == 0 ? 0 : 1)
    }

    /// Writes each target's seeds into `directory/<target>/<name>`.
    static func writeSeeds(into directory: String) {
        for target in FuzzTarget.allCases {
            let folder = directory + "/" + target.rawValue
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for seed in FuzzSeeds.seeds(for: target) {
                    try Data(seed.bytes).write(to: URL(fileURLWithPath: folder + "/" + seed.name))
                }
            } catch {
                FileHandle.standardError.write(Data("maelstrom-fuzz: cannot write seeds into \(folder): \(error)\n".utf8))
                exit(2)
            }
        }
    }

    /// `path` itself, or the regular files in it when it is a directory.
    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }
}
#endif
