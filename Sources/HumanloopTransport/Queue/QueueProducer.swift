/// What puts items on a queue: a call (`AsyncCall`) or a batch (`BatchRun`).
public protocol QueueProducer: AnyObject, Sendable {
    /// True once its handle was released (its pending items are discarded).
    var isReleasedNow: Bool { get }
    /// Flow control: stop (or go on) producing while the queue is over its bound.
    func pause(_ paused: Bool)
    /// Ends it promptly (hl_queue_free of its queue).
    func cancel()
}
