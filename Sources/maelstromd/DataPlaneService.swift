import Logging
import MaelstromTun
import ServiceLifecycle

/// Runs the packet loop on its own thread as a lifecycle service: a graceful shutdown stops the
/// loop (which flushes its partial bins); a loop that fails ends the service with its error.
final class DataPlaneService: Service, @unchecked Sendable {
    // Handed to the packet thread exactly once, in run(); never touched from here afterwards.
    private var dataPlane: DataPlane?
    private let control: DataPlaneControl
    private let logger: Logger

    init(dataPlane: DataPlane, logger: Logger) {
        self.dataPlane = dataPlane
        self.control = dataPlane.control
        self.logger = logger
    }

    func run() async throws {
        guard let dataPlane else { return }
        self.dataPlane = nil
        let (outcome, continuation) = AsyncStream<String?>.makeStream()
        let thread = try IOThread(name: "mael-packets") {
            do {
                try dataPlane.run()
                continuation.yield(nil)
            } catch {
                continuation.yield("\(error)")
            }
            continuation.finish()
        }
        let control = self.control
        // Another service failing cancels this one instead of shutting it down gracefully: both
        // must stop the loop, or the daemon would hang with its packet thread running.
        let failure: String? = await withTaskCancellationOrGracefulShutdownHandler {
            var failure: String? = nil
            for await result in outcome { failure = result }
            return failure
        } onCancelOrGracefulShutdown: {
            control.requestStop()
        }
        thread.join()
        if let failure {
            throw CommandFailure(message: "packet loop failed: \(failure)", exitCode: 1)
        }
    }
}
