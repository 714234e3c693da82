import TandemCore

/// The OpenMetrics 1.0 text format (openmetrics.io, `OpenMetrics.md`), made from the Prometheus
/// 0.0.4 text that swift-prometheus writes, for scrapers that ask for it through `Accept`.
///
/// The two formats differ, for what Tandem exports, in three things, all handled here:
/// - a counter's family (`# HELP`, `# TYPE`) is named without `_total`; its sample keeps it (and
///   gets it when the 0.0.4 name lacks it);
/// - `# HELP` text escapes `"` as well as `\` and newlines;
/// - the exposition ends with `# EOF`.
/// Gauges and histograms (`_bucket`, `_sum`, `_count`, `le`), label escaping and number formats
/// (`+Inf`, `NaN`) are the same in both.
public enum OpenMetrics {
    /// `Content-Type` of `convert`'s output.
    public static let contentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    /// Whether an `Accept` header prefers OpenMetrics to the 0.0.4 text: its quality is above 0
    /// and at least the text format's (RFC 9110 §12.5.1; a missing `q` is 1). Prometheus's own
    /// header (`application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`) does.
    public static func preferred(accept: String?) -> Bool {
        guard let accept else { return false }
        var openMetrics = 0.0, text = 0.0, any = 0.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingWhitespace() }
            guard let type = parts.first?.lowercased() else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
                if pair.count == 2, pair[0].lowercased() == "q", let q = Double(pair[1]) { quality = q }
            }
            switch type {
            case "application/openmetrics-text": openMetrics = max(openMetrics, quality)
            case "text/plain", "text/*": text = max(text, quality)
            case "*/*": any = max(any, quality)
            default: break
            }
        }
        return openMetrics > 0 && openMetrics >= max(text, any)
    }

    /// The OpenMetrics text of `exposition` (Prometheus text 0.0.4).
    public static func convert(_ exposition: [UInt8]) -> [UInt8] {
        let text = String(decoding: exposition, as: UTF8.self)
        var counters: Set<Substring> = []
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let fields = line.split(separator: " ")
            if fields.count == 4, fields[3] == "counter" { counters.insert(fields[2]) }
        }
        var out = ""
        out.reserveCapacity(text.utf8.count + 64)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard fields.count >= 3 else { continue }
                let name = fields[2]
                let family = counters.contains(name) ? familyName(ofCounter: name) : name
                let rest = fields.count == 4 ? fields[3] : ""
                out += "# \(fields[1]) \(family) \(fields[1] == "HELP" ? escapeQuotes(rest) : String(rest))\n"
            } else if line.hasPrefix("#") {
                continue
            } else {
                let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
                let name = line[..<nameEnd]
                if counters.contains(name), !name.hasSuffix("_total") {
                    out += "\(name)_total\(line[nameEnd...])\n"
                } else {
                    out += "\(line)\n"
                }
            }
        }
        out += "# EOF\n"
        return Array(out.utf8)
    }

    static func familyName(ofCounter name: Substring) -> Substring {
        name.hasSuffix("_total") ? name.dropLast("_total".count) : name
    }

    /// 0.0.4 HELP text escapes `\` and newlines; OpenMetrics also escapes `"`.
    static func escapeQuotes(_ help: Substring) -> String {
        help.replacingScalar("\"", with: "\\\"")
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
