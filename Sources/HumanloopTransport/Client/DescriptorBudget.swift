#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How many connections the process's open-file limit leaves room for.
///
/// A connection costs one descriptor (a socket); a loop costs five for itself (its epoll, timer
/// and event descriptors, and its multi handle's wake-up pair): the engine's loop once, and each
/// blocking call's loop (one connection each). A quarter of the soft `RLIMIT_NOFILE` is left to
/// the host program.
enum DescriptorBudget {
    /// The soft limit of open files, or nil when there is none (or it cannot be read).
    static var softLimit: Int? {
        var limit = rlimit()
        // RLIM_INFINITY is all ones: beyond Int.max, so "no limit" too.
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur <= UInt(Int.max) else { return nil }
        return Int(limit.rlim_cur)
    }

    /// The descriptors the library may use: three quarters of `softLimit`.
    static func usable(softLimit: Int?) -> Int? {
        softLimit.map { $0 - $0 / 4 }
    }

    /// The connections of the engine (its loop's own descriptors, then one socket each).
    static func engineConnections(configured: Int, softLimit: Int?) -> Int {
        guard let usable = usable(softLimit: softLimit) else { return configured }
        return max(1, min(configured, usable - 5))
    }

    /// The loops of blocking calls (each: its own five descriptors and one socket).
    static func blockingConnections(configured: Int, softLimit: Int?) -> Int {
        guard let usable = usable(softLimit: softLimit) else { return configured }
        return max(1, min(configured, usable / 6))
    }

    /// The message of a call that found no free descriptor: "too many open files", the limit,
    /// what could not be done, and what to do.
    static func tooManyOpenFiles(_ consequence: String) -> String {
        let limit = softLimit.map { "its limit of \($0) open files (RLIMIT_NOFILE)" } ?? "its limit of open files"
        return "too many open files: the process reached \(limit), so \(consequence); lower max_connections or raise the limit"
    }

    /// True when `errno` says the process (or the system) ran out of descriptors.
    static func isExhaustion(errno code: Int) -> Bool {
        code == Int(EMFILE) || code == Int(ENFILE)
    }
}
