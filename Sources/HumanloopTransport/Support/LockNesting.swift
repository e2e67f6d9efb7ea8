#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

#if DEBUG
/// Debug builds (the tests') count, per thread, the `Lock`s held and how often one was taken
/// while another was held. Locks never nest: `ForkGuard` takes them all in an arbitrary order,
/// which could deadlock a `fork()` against a thread holding two of them.
enum LockNesting {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { $0?.deallocate() }
        return key
    }()

    /// (locks held, nested acquisitions) of the calling thread.
    private static var counters: UnsafeMutablePointer<(held: Int, nested: Int)> {
        if let existing = pthread_getspecific(key) { return existing.assumingMemoryBound(to: (held: Int, nested: Int).self) }
        let made = UnsafeMutablePointer<(held: Int, nested: Int)>.allocate(capacity: 1)
        made.initialize(to: (0, 0))
        pthread_setspecific(key, made)
        return made
    }

    /// Times the calling thread took a lock while it held another.
    static var nestedAcquisitions: Int { counters.pointee.nested }

    static func willLock() {
        let counters = counters
        if counters.pointee.held > 0 { counters.pointee.nested += 1 }
        counters.pointee.held += 1
    }

    static func didUnlock() { counters.pointee.held -= 1 }
}
#endif
