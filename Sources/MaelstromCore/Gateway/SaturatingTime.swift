extension UInt64 {
    /// `self + other`, or `UInt64.max` where that would overflow: deadlines computed from
    /// configured durations must stay in the future, not wrap into the past.
    @inlinable
    public func saturatingAdd(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
