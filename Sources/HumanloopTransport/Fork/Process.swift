#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore

/// The calling process, for stamping what must not cross a fork.
///
/// Read on every checkout and transfer step, so it is not a system call: it is read once when
/// the library first needs it and set again by `ForkGuard`'s child handler right after each
/// `fork()`. (A child made by a raw `clone` system call, which runs no fork handlers, is not
/// seen; such children must `exec` at once, as every runtime's spawn does.)
enum Process {
    nonisolated(unsafe) private static var cached: pid_t = {
        _ = ForkGuard.shared  // the child handler keeps `cached` right
        return getpid()
    }()

    static var current: pid_t { cached }

    /// Called in the child right after fork().
    static func forked() { cached = getpid() }
}
