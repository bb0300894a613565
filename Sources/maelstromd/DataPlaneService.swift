import Logging
import MaelstromTun
import ServiceLifecycle

/// Runs each lane's packet loop on its own thread as a lifecycle service: a graceful shutdown stops
/// every loop (each flushes its partial bins); a loop that fails stops the others and ends the
/// service with its error.
final class DataPlaneService: Service, @unchecked Sendable {
    // Handed to the lane threads exactly once, in run(); never touched from here afterwards.
    private var loops: [DaemonLoop]
    private let controls: [DataPlaneControl]
    private let logger: Logger

    init(loops: [DaemonLoop], logger: Logger) {
        self.loops = loops
        self.controls = loops.map(\.control)
        self.logger = logger
    }

    func run() async throws {
        let handed = loops
        loops = []
        guard !handed.isEmpty else { return }
        let (outcome, continuation) = AsyncStream<String?>.makeStream()
        let controls = self.controls
        var threads: [IOThread] = []
        for loop in handed {
            let lane = loop.lane
            nonisolated(unsafe) let owned = loop
            threads.append(
                try IOThread(name: "mael-lane\(lane.rawValue)") {
                    do {
                        try owned.run()
                        continuation.yield(nil)
                    } catch {
                        continuation.yield("\(lane): \(error)")
                        // One lane failing stops the others: the daemon does not run half a gateway.
                        for control in controls { control.requestStop() }
                    }
                })
        }
        // Another service failing cancels this one instead of shutting it down gracefully: both
        // must stop the loops, or the daemon would hang with its packet threads running.
        let failure: String? = await withTaskCancellationOrGracefulShutdownHandler {
            var failure: String? = nil
            var finished = 0
            for await result in outcome {
                if let result, failure == nil { failure = result }
                finished += 1
                if finished == controls.count { break }
            }
            return failure
        } onCancelOrGracefulShutdown: {
            for control in controls { control.requestStop() }
        }
        continuation.finish()
        for thread in threads { thread.join() }
        if let failure {
            throw CommandFailure(message: "packet loop failed: \(failure)", exitCode: 1)
        }
    }
}
