#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// What keeps `fork()` from crossing answers between processes or deadlocking a child.
///
/// - Every `Lock` of the library registers here. `fork()` (through `pthread_atfork`) first takes
///   all of them, so no other thread is inside one at the moment of the fork; both processes
///   then release them. A lock another thread held cannot be left locked in the child.
/// - Every socket libcurl opens for the library registers here (with its inode). In the child,
///   before anything else runs, each inherited socket still open is replaced (`dup2`) by
///   `/dev/null`: the child's copies of the handles can then be cleaned up normally — a TLS
///   close_notify or any other byte they write goes nowhere, and nothing they read comes from
///   the parent's connection. The parent's connections are untouched.
/// - Handles and transfers are stamped with the process that made them (`getpid()`); the pools
///   drop handles of another process and transfers refuse to run in one.
final class ForkGuard: @unchecked Sendable {
    static let shared = ForkGuard()

    /// The error of a call or stream used in a process other than the one that started it.
    static let crossedFork = CallError.connectionError(
        "the call was started in another process: a call or stream open across fork() belongs to the parent process")

    private struct SocketIdentity: Hashable {
        var device: UInt
        var inode: UInt
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// The mutexes of every live `Lock` (guarded by `mutex`).
    private var locks: Set<UnsafeMutableRawPointer> = []
    /// Sockets libcurl opened for this library and has not closed (guarded by `mutex`).
    private var sockets: [Int32: SocketIdentity] = [:]

    private init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        _ = ForkGate.shared  // made now, not in the prepare handler
        pthread_atfork(forkPrepare, forkParent, forkChild)
    }

    func register(lock: UnsafeMutablePointer<pthread_mutex_t>) {
        pthread_mutex_lock(mutex)
        locks.insert(UnsafeMutableRawPointer(lock))
        pthread_mutex_unlock(mutex)
    }

    func unregister(lock: UnsafeMutablePointer<pthread_mutex_t>) {
        pthread_mutex_lock(mutex)
        locks.remove(UnsafeMutableRawPointer(lock))
        pthread_mutex_unlock(mutex)
    }

    /// libcurl opened `socket` for a connection. It is also marked close-on-exec.
    func opened(socket: Int32) {
        _ = fcntl(socket, F_SETFD, fcntl(socket, F_GETFD) | FD_CLOEXEC)
        guard let identity = Self.identity(of: socket) else { return }
        pthread_mutex_lock(mutex)
        sockets[socket] = identity
        pthread_mutex_unlock(mutex)
    }

    /// libcurl is closing `socket`.
    func closing(socket: Int32) {
        pthread_mutex_lock(mutex)
        sockets[socket] = nil
        pthread_mutex_unlock(mutex)
    }

    private static func identity(of socket: Int32) -> SocketIdentity? {
        var status = stat()
        guard fstat(socket, &status) == 0 else { return nil }
        return SocketIdentity(device: UInt(truncatingIfNeeded: status.st_dev), inode: UInt(truncatingIfNeeded: status.st_ino))
    }

    fileprivate func prepare() {
        // First no thread of the library inside libcurl (one inside may need a lock to get out).
        ForkGate.shared.close()
        pthread_mutex_lock(mutex)
        for lock in locks { pthread_mutex_lock(lock.assumingMemoryBound(to: pthread_mutex_t.self)) }
    }

    fileprivate func parent() {
        for lock in locks { pthread_mutex_unlock(lock.assumingMemoryBound(to: pthread_mutex_t.self)) }
        pthread_mutex_unlock(mutex)
        ForkGate.shared.reopenInParent()
    }

    /// In the child, right after fork: detach every inherited socket, then release the locks.
    fileprivate func child() {
        Process.forked()
        // No /dev/null (a bare chroot): an unconnected socket fails every read and write instead.
        var null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null < 0 { null = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        if null >= 0 {
            for (socket, identity) in sockets where Self.identity(of: socket) == identity {
                if dup2(null, socket) >= 0 { _ = fcntl(socket, F_SETFD, FD_CLOEXEC) }
            }
            _ = close(null)
        }
        for lock in locks { pthread_mutex_unlock(lock.assumingMemoryBound(to: pthread_mutex_t.self)) }
        pthread_mutex_unlock(mutex)
        ForkGate.shared.reopenInChild()
    }
}

private func forkPrepare() { ForkGuard.shared.prepare() }
private func forkParent() { ForkGuard.shared.parent() }
private func forkChild() { ForkGuard.shared.child() }
