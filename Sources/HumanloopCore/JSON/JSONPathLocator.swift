/// Finds the path of a number in JSON text from a byte offset (jansson reports where a number
/// out of range ended, not which member held it).
///
/// Not a parser: it follows brackets, strings, keys and commas of text jansson has already read
/// up to `offset`, and returns the path (`model_config.max_tokens`, `stop[1]`) of the last
/// number that began before it. Linear in `offset`; never traps on any input.
enum JSONPathLocator {
    private enum Frame {
        case object(key: String?, expectingKey: Bool)
        case array(index: Int)
    }

    static func pathOfNumber(before offset: Int, in bytes: UnsafeRawBufferPointer) -> String {
        var stack: [Frame] = []
        var lastNumberPath = ""
        var index = 0
        let end = min(max(offset, 0), bytes.count)
        while index < end {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                stack.append(.object(key: nil, expectingKey: true))
            case UInt8(ascii: "["):
                stack.append(.array(index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
            case UInt8(ascii: ","):
                if case .array(let position)? = stack.last {
                    stack[stack.count - 1] = .array(index: position &+ 1)
                } else if case .object(let key, _)? = stack.last {
                    stack[stack.count - 1] = .object(key: key, expectingKey: true)
                }
            case UInt8(ascii: "\""):
                let start = index + 1
                index = start
                while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                if case .object(_, true)? = stack.last {
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<min(index, bytes.count)]), as: UTF8.self)
                    stack[stack.count - 1] = .object(key: text, expectingKey: false)
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                lastNumberPath = path(of: stack)
                // Skip the rest of the number.
                while index + 1 < end, Self.isNumberByte(bytes[index + 1]) { index += 1 }
            default:
                break
            }
            index += 1
        }
        return lastNumberPath
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
            || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }

    private static func path(of stack: [Frame]) -> String {
        var path = ""
        for frame in stack {
            switch frame {
            case .object(let key?, _):
                path += path.isEmpty ? key : "." + key
            case .object(nil, _):
                break
            case .array(let index):
                path += "[\(index)]"
            }
        }
        return path
    }
}
