import Foundation
import Testing

// contrib/grafana/maelstrom.json queries the daemon's series by name; a name renamed or dropped in
// the catalogue would leave a panel silently empty. `maelstromd` is an executable target, which this
// test target cannot import, and scraping a running daemon needs root and TUN devices, so the names
// are read from the catalogue's source (`name: "maelstrom_…"` in MetricCatalog.swift, the one list
// the exporter registers) and from docs/METRICS.md's tables; a name must be in both.

/// The dashboard, the catalogue and the metrics doc, found from this file's path.
private enum DashboardFiles {
    static let root = TestBed.repositoryRoot
    static let dashboard = root.appendingPathComponent("contrib/grafana/maelstrom.json")
    static let catalogue = root.appendingPathComponent("Sources/maelstromd/Metrics/MetricCatalog.swift")
    static let metricsDoc = root.appendingPathComponent("docs/METRICS.md")
}

/// Every string of `pattern`'s first capture group in `text`.
private func captures(_ pattern: String, in text: String) throws -> [String] {
    let regex = try NSRegularExpression(pattern: pattern)
    let range = NSRange(text.startIndex..., in: text)
    return regex.matches(in: text, range: range).compactMap { match in
        let group = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
        return Range(group, in: text).map { String(text[$0]) }
    }
}

/// The series names the catalogue's source declares (`name: "maelstrom_…"`), and its peer label.
private struct Catalogue {
    var names: Set<String>
    var peerLabel: String?

    static func load() throws -> Catalogue {
        let source = try String(contentsOf: DashboardFiles.catalogue, encoding: .utf8)
        return Catalogue(
            names: Set(try captures(#"name:\s*"(maelstrom_[a-z0-9_]+)""#, in: source)),
            peerLabel: try captures(#"static let peerLabel\s*=\s*"([a-z_]+)""#, in: source).first)
    }
}

/// The series docs/METRICS.md lists in its tables (`| `name` | type | …`), by type.
private struct DocumentedSeries {
    var types: [String: String]

    static func load() throws -> DocumentedSeries {
        let doc = try String(contentsOf: DashboardFiles.metricsDoc, encoding: .utf8)
        var types: [String: String] = [:]
        let regex = try NSRegularExpression(pattern: #"^\|\s*`(maelstrom_[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|"#, options: .anchorsMatchLines)
        for match in regex.matches(in: doc, range: NSRange(doc.startIndex..., in: doc)) {
            guard let name = Range(match.range(at: 1), in: doc), let type = Range(match.range(at: 2), in: doc) else { continue }
            types[String(doc[name])] = String(doc[type])
        }
        return DocumentedSeries(types: types)
    }

    var histograms: Set<String> { Set(types.filter { $0.value == "histogram" }.keys) }
}

/// A panel of the dashboard, rows' nested panels included.
private struct Panel {
    var title: String
    var type: String
    var expressions: [String]
}

/// The dashboard JSON, parsed.
private struct Dashboard {
    var object: [String: Any]

    static func load() throws -> Dashboard {
        let data = try Data(contentsOf: DashboardFiles.dashboard)
        let parsed = try JSONSerialization.jsonObject(with: data)
        return Dashboard(object: try #require(parsed as? [String: Any], "the dashboard is not a JSON object"))
    }

    /// Every panel, with the panels of collapsed rows (nested under the row) after their row.
    var panels: [Panel] {
        func walk(_ list: [[String: Any]]) -> [Panel] {
            list.flatMap { panel -> [Panel] in
                let targets = panel["targets"] as? [[String: Any]] ?? []
                let this = Panel(
                    title: panel["title"] as? String ?? "(untitled)", type: panel["type"] as? String ?? "",
                    expressions: targets.compactMap { $0["expr"] as? String })
                return [this] + walk(panel["panels"] as? [[String: Any]] ?? [])
            }
        }
        return walk(object["panels"] as? [[String: Any]] ?? [])
    }

    /// Panels that show data (not row headers).
    var dataPanels: [Panel] { panels.filter { $0.type != "row" } }

    /// The template variables, by name.
    var variables: [String: [String: Any]] {
        let list = (object["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        var byName: [String: [String: Any]] = [:]
        for variable in list { if let name = variable["name"] as? String { byName[name] = variable } }
        return byName
    }

    /// A query variable's PromQL (`label_values(…)`), whether stored as a string or as `{query: …}`.
    static func query(of variable: [String: Any]) -> String? {
        if let query = variable["query"] as? String { return query }
        return (variable["query"] as? [String: Any])?["query"] as? String ?? variable["definition"] as? String
    }

    /// Every PromQL expression: the panels' targets and the query variables.
    var expressions: [(place: String, expr: String)] {
        var all = panels.flatMap { panel in panel.expressions.map { (place: "panel \"\(panel.title)\"", expr: $0) } }
        for (name, variable) in variables.sorted(by: { $0.key < $1.key }) where variable["type"] as? String == "query" {
            if let query = Self.query(of: variable) { all.append((place: "variable $\(name)", expr: query)) }
        }
        return all
    }
}

/// The series names an expression reads: every `maelstrom_…` identifier.
private func metricNames(in expression: String) throws -> [String] {
    try captures(#"\b(maelstrom_[a-z0-9_]+)"#, in: expression)
}

/// The catalogue series a name in a query refers to: itself, or a histogram's base for `_bucket`,
/// `_sum` and `_count`.
private func family(of name: String, histograms: Set<String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
        let base = String(name.dropLast(suffix.count))
        if histograms.contains(base) { return base }
    }
    return name
}

@Suite("contrib/grafana/maelstrom.json against the metric catalogue")
struct GrafanaDashboardTests {
    @Test("the dashboard parses, has at least 10 panels, and every panel has a query")
    func structure() throws {
        let dashboard = try Dashboard.load()
        let panels = dashboard.dataPanels
        #expect(panels.count >= 10, "only \(panels.count) panels")
        for panel in panels {
            #expect(!panel.expressions.isEmpty, "panel \"\(panel.title)\" has no target with an expr")
            for expr in panel.expressions {
                #expect(!expr.trimmingCharacters(in: .whitespaces).isEmpty, "panel \"\(panel.title)\" has an empty expr")
            }
        }
        #expect((dashboard.object["schemaVersion"] as? Int ?? 0) >= 36)
        #expect(dashboard.object["uid"] as? String == "maelstrom-gateway")
    }

    @Test("the catalogue and docs/METRICS.md can be read, so the name check below is not vacuous")
    func sourcesOfNames() throws {
        let catalogue = try Catalogue.load()
        let documented = try DocumentedSeries.load()
        #expect(catalogue.names.count >= 50, "only \(catalogue.names.count) names found in MetricCatalog.swift")
        #expect(documented.types.count >= 50, "only \(documented.types.count) series found in docs/METRICS.md")
        #expect(catalogue.names.contains("maelstrom_peer_up"))
        #expect(documented.histograms.contains("maelstrom_recovery_latency_seconds"))
        #expect(catalogue.peerLabel != nil, "no `static let peerLabel` in MetricCatalog.swift")
    }

    @Test("every series a query reads is in the catalogue and in docs/METRICS.md")
    func everyNameExists() throws {
        let dashboard = try Dashboard.load()
        let catalogue = try Catalogue.load()
        let documented = try DocumentedSeries.load()
        let histograms = documented.histograms
        var seen: Set<String> = []
        for (place, expr) in dashboard.expressions {
            let names = try metricNames(in: expr)
            #expect(!names.isEmpty || place.hasPrefix("variable"), "\(place) reads no maelstrom_ series: \(expr)")
            for name in names {
                let series = family(of: name, histograms: histograms)
                seen.insert(series)
                #expect(catalogue.names.contains(series), "\(place) reads \(name), which MetricCatalog.swift does not export: \(expr)")
                #expect(documented.types[series] != nil, "\(place) reads \(name), which docs/METRICS.md does not list: \(expr)")
                if name != series {
                    // Only a histogram has `_bucket`; `_sum`/`_count` are fine for it too.
                    #expect(documented.types[series] == "histogram", "\(place) reads \(name) of \(series), which is no histogram")
                }
                if documented.types[series] == "counter" {
                    #expect(series.hasSuffix("_total"), "\(place) reads counter \(series) without its _total suffix")
                }
                if name.hasSuffix("_bucket") {
                    #expect(expr.contains("histogram_quantile"), "\(place) reads \(name) outside histogram_quantile: \(expr)")
                }
            }
        }
        #expect(seen.count >= 20, "the dashboard reads only \(seen.count) series")
    }

    @Test("the template variables: a Prometheus datasource, and instance and peer from label_values with the catalogue's peer label")
    func variables() throws {
        let dashboard = try Dashboard.load()
        let variables = dashboard.variables
        let datasource = try #require(variables["DS_PROMETHEUS"], "no DS_PROMETHEUS variable")
        #expect(datasource["type"] as? String == "datasource")
        #expect(datasource["query"] as? String == "prometheus")

        let peerLabel = try #require(try Catalogue.load().peerLabel)
        let peer = try #require(variables["peer"].flatMap(Dashboard.query(of:)), "no peer query variable")
        #expect(peer.hasPrefix("label_values("), "peer variable: \(peer)")
        #expect(peer.hasSuffix(", \(peerLabel))"), "the peer variable takes another label than the catalogue's \(peerLabel): \(peer)")
        let instance = try #require(variables["instance"].flatMap(Dashboard.query(of:)), "no instance query variable")
        #expect(instance.hasPrefix("label_values(") && instance.hasSuffix(", instance)"), "instance variable: \(instance)")

        // Every panel and target reads the datasource variable, not a fixed datasource.
        let panels = (dashboard.object["panels"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "row" }
        for panel in panels {
            let uid = (panel["datasource"] as? [String: Any])?["uid"] as? String
            #expect(uid == "${DS_PROMETHEUS}", "panel \"\(panel["title"] as? String ?? "")\" uses datasource \(uid ?? "none")")
        }
        // The per-peer selector filters on the catalogue's peer label.
        let perPeer = dashboard.expressions.filter { $0.expr.contains("$peer") }
        #expect(!perPeer.isEmpty)
        for (place, expr) in perPeer {
            #expect(expr.contains("\(peerLabel)=~\"$peer\""), "\(place) filters $peer on another label: \(expr)")
        }
    }
}
