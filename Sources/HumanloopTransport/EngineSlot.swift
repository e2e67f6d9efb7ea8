/// A client's engine, made on first use and stopped when the client is freed. After `fork()`
/// the child gets a new engine: the inherited one (its thread does not exist in the child, its
/// connections belong to the parent) is abandoned, never touched again.
final class EngineSlot: @unchecked Sendable {
    private let lock = Lock()
    private var engine: Engine?  // guarded by lock
    private let maxConnections: Int

    /// Engines inherited across fork(): kept (never cleaned up) so nothing of them runs here.
    nonisolated(unsafe) private static var abandoned: [Engine] = []
    private static let abandonedLock = Lock()

    init(maxConnections: Int) { self.maxConnections = maxConnections }

    /// The engine of this process.
    var current: Engine {
        let current = Process.current
        if let engine = lock.withLock({ engine }), engine.process == current { return engine }
        // Made outside the lock: an engine makes a `Lock` (see `Lock`).
        let made = Engine(maxConnections: maxConnections)
        let (chosen, inherited) = lock.withLock { () -> (Engine, Engine?) in
            if let engine, engine.process == current { return (engine, nil) }
            let inherited = engine
            engine = made
            return (made, inherited)
        }
        if let inherited { Self.abandonedLock.withLock { Self.abandoned.append(inherited) } }
        return chosen
    }

    /// Stops the engine (if one was made in this process), delivering the terminal items of the
    /// calls still in flight.
    func stop() {
        let made = lock.withLock { () -> Engine? in engine }
        guard let engine = made, engine.process == Process.current else { return }
        engine.stop()
    }
}
