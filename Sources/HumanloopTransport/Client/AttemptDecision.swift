import HumanloopCore

/// What to do after one attempt of a call.
enum AttemptDecision {
    /// The attempt's outcome is the call's.
    case finish
    /// Follow a same-origin 307/308 (not counted as an attempt).
    case redirect(to: String)
    /// Try again after this many seconds.
    case retry(after: Double)
}
