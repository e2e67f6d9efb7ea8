import HumanloopCore
import HumanloopTransport

/// The client used when a call passes NULL, built from the environment.
///
/// Built on the first call that can build it and kept for the life of the process; a failed
/// build (for example `HUMANLOOP_API_KEY` not set yet) is not remembered, so the next call
/// tries again. Thread-safe and fork-safe (its lock is a `Lock`).
final class DefaultClient: @unchecked Sendable {
    static let shared = DefaultClient()

    private let lock = Lock()
    private var client: TransportClient?  // guarded by lock

    /// The default client, or why it cannot be built now.
    func resolve() -> Result<TransportClient, CallError> {
        if let client = lock.withLock({ client }) { return .success(client) }
        // Built outside the lock: a client makes `Lock`s, which must not happen while holding
        // one (see `Lock`). Two threads may both build one; the first kept wins.
        let built = makeClient(configJSON: nil)
        return lock.withLock {
            if let client { return .success(client) }
            if case .success(let made) = built { client = made }
            return built
        }
    }
}
