extension MonotonicInstant {
    /// The instant `span` later, saturating at the end of time.
    public static func + (instant: MonotonicInstant, span: TimeSpan) -> MonotonicInstant {
        instant.adding(milliseconds: span.milliseconds)
    }
}
