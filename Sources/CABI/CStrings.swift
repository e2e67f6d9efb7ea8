#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Converting between C strings and bytes at the boundary.
enum CStrings {
    /// The bytes of a NUL-terminated string (nil for a NULL pointer).
    static func bytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8]? {
        guard let pointer else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }

    /// A new malloc'd, NUL-terminated copy of `bytes` (for hl_free), or nil when memory is exhausted.
    static func copy(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar>? {
        guard let memory = malloc(bytes.count + 1) else { return nil }
        let pointer = memory.bindMemory(to: CChar.self, capacity: bytes.count + 1)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { memcpy(pointer, base, bytes.count) }
        }
        pointer[bytes.count] = 0
        return pointer
    }

    /// The process environment, read at the moment of the call.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(validatingCString: value)
    }
}
