extension MonotonicInstant {
    /// The instant `span` later, saturating at the end of time.
    public static func + (instant: MonotonicInstant, span: TimeSpan) -> MonotonicInstant {
        instant.adding(milliseconds: span.milliseconds)
    }

    /// True when at least `span` has passed from `earlier` to `self`.
    public func hasElapsed(_ span: TimeSpan, since earlier: MonotonicInstant) -> Bool {
        self >= earlier + span
    }
}
