/// A client's engine, made with the client and stopped when the client is freed. After `fork()`
/// the child gets a new engine: the inherited one (its thread does not exist in the child, its
/// descriptors and connections belong to the parent) is abandoned (`Loop.abandon`).
final class EngineSlot: @unchecked Sendable {
    private let lock = Lock()
    private var engine: Loop?  // guarded by lock
    private let maxConnections: Int
    private let budget: ConnectionBudget

    init(maxConnections: Int, budget: ConnectionBudget) {
        self.maxConnections = maxConnections
        self.budget = budget
    }

    deinit {
        if let engine, engine.process != Process.current { Loop.abandon(engine) }
    }

    /// The engine of this process.
    var current: Loop {
        let current = Process.current
        // An engine that could not be set up (no descriptor free then) is made again.
        if let engine = lock.withLock({ engine }), engine.process == current, engine.isUsable { return engine }
        // Made outside the lock: an engine makes a `Lock` (see `Lock`).
        let made = Loop(maxConnections: maxConnections, ownsThread: true, budget: budget)
        let (chosen, inherited) = lock.withLock { () -> (Loop, Loop?) in
            if let engine, engine.process == current, engine.isUsable { return (engine, nil) }
            let inherited = engine?.process == current ? nil : engine
            engine = made
            return (made, inherited)
        }
        if let inherited { Loop.abandon(inherited) }
        return chosen
    }

    /// Stops the engine (if one was made in this process), delivering the terminal items of the
    /// calls still in flight.
    func stop() {
        let made = lock.withLock { () -> Loop? in engine }
        guard let engine = made, engine.process == Process.current else { return }
        engine.stop()
    }
}
