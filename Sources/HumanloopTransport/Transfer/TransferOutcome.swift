import HumanloopCore

/// How one exchange ended.
enum TransferOutcome {
    /// A complete answer (any status).
    case response(ResponseHead, body: [UInt8])
    /// No usable answer; `retryable` when the failure is one worth another attempt.
    case failure(CallError, retryable: Bool)
}
