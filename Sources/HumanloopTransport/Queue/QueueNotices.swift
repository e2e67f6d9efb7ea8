#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The queues that received items during the current step of a loop on this thread, notified
/// (their waiters woken, their descriptor signalled) once, when the step ends, rather than once
/// per item: a consumer then wakes once for everything one step finished.
///
/// Each thread that runs a loop's step has its own list (thread-specific storage); a step run
/// inside another's (a callback making a blocking call) has its own and restores the outer one.
/// An item put on a queue outside any step (a call ended by `hl_queue_free`, a loop shut down)
/// notifies at once.
final class QueueNotices {
    private var queues: [ItemQueue] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `step` with a list of its own for this thread, then notifies the queues it filled.
    static func collecting(_ step: () -> Void) {
        let outer = pthread_getspecific(key)
        let notices = QueueNotices()
        pthread_setspecific(key, Unmanaged.passUnretained(notices).toOpaque())
        step()
        pthread_setspecific(key, outer)
        for queue in notices.queues { queue.notify() }
    }

    /// Schedules `queue`'s notification for the end of this thread's step; false when no step
    /// runs on this thread (the caller notifies at once).
    static func schedule(_ queue: ItemQueue) -> Bool {
        guard let current = pthread_getspecific(key) else { return false }
        Unmanaged<QueueNotices>.fromOpaque(current).takeUnretainedValue().queues.append(queue)
        return true
    }
}
