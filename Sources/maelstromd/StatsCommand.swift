import ArgumentParser

/// `maelstromd stats`: a running gateway's metrics, summarised per peer for a human (or as JSON).
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Summarise a running gateway's metrics per peer: health, RTT, frames, FEC recoveries and losses.")

    @Option(help: "The daemon's Prometheus endpoint (metrics.listen in its config).")
    var metrics = "http://127.0.0.1:9464/metrics"

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// How long a daemon gets to answer: it renders from memory, so anything slower is not answering.
    static let timeout = Duration.seconds(5)

    func run() async throws {
        guard let target = MetricsFetcher.Target(url: metrics) else {
            throw CommandFailure.badInput("--metrics must be an http://HOST:PORT/PATH URL, got '\(metrics)'")
        }
        let response: MetricsFetcher.Response
        do {
            response = try await MetricsFetcher.get(target, timeout: Self.timeout)
        } catch {
            throw CommandFailure(message: "cannot read \(metrics): \(MetricsFetcher.describe(error))", exitCode: 1)
        }
        guard response.status == .ok else {
            throw CommandFailure(
                message: "cannot read \(metrics): HTTP \(response.status.code) \(response.status.reasonPhrase)", exitCode: 1)
        }
        let exposition: Exposition
        do {
            exposition = try Exposition(parsing: response.body)
        } catch {
            throw CommandFailure(message: "\(metrics) did not return Prometheus text: \(error)", exitCode: 1)
        }
        guard let report = StatsReport(exposition, url: metrics) else {
            throw CommandFailure(message: "\(metrics) serves no maelstrom_* metrics: is it a maelstromd?", exitCode: 1)
        }
        print(json ? try report.json() : report.text())
    }
}
