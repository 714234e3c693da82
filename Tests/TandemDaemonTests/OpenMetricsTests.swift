import Testing
@testable import TandemDaemon

/// The OpenMetrics form of the exposition and the `Accept` negotiation.
@Suite struct OpenMetricsTests {
    @Test(arguments: [
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", true),
        ("text/plain;version=0.0.4", false),
        ("*/*", false),
        ("application/openmetrics-text; version=1.0.0; q=0.2, text/plain; q=0.9", false),
        ("application/openmetrics-text;q=0", false),
        ("APPLICATION/OpenMetrics-Text", true),
    ])
    func acceptPrefersOpenMetricsOnlyWhenItRanksFirst(_ accept: String, _ expected: Bool) {
        #expect(OpenMetrics.preferred(accept: accept) == expected)
        #expect(!OpenMetrics.preferred(accept: nil))
    }

    /// Gauges and histograms: the same text in both formats.
    static let unchanged = """
        # HELP tandem_peer_alive 1 while alive.
        # TYPE tandem_peer_alive gauge
        tandem_peer_alive 1
        # HELP tandem_check_seconds Check duration.
        # TYPE tandem_check_seconds histogram
        tandem_check_seconds_bucket{le="0.1"} 1
        tandem_check_seconds_bucket{le="+Inf"} 2
        tandem_check_seconds_sum 0.3
        tandem_check_seconds_count 2
        """

    @Test func countersLoseTotalInTheirFamilyHelpEscapesQuotesAndTheTextEndsWithEOF() {
        let text = """
        # HELP tandem_heartbeats_sent_total Heartbeats sent, per path.
        # TYPE tandem_heartbeats_sent_total counter
        tandem_heartbeats_sent_total{path="a -> b"} 12
        # HELP tandem_odd_count A counter named without the suffix, "quoted".
        # TYPE tandem_odd_count counter
        tandem_odd_count 3
        \(Self.unchanged)

        """
        let converted = String(decoding: OpenMetrics.convert(Array(text.utf8)), as: UTF8.self)
        #expect(converted == """
        # HELP tandem_heartbeats_sent Heartbeats sent, per path.
        # TYPE tandem_heartbeats_sent counter
        tandem_heartbeats_sent_total{path="a -> b"} 12
        # HELP tandem_odd_count A counter named without the suffix, \\"quoted\\".
        # TYPE tandem_odd_count counter
        tandem_odd_count_total 3
        \(Self.unchanged)
        # EOF

        """)
    }
}
