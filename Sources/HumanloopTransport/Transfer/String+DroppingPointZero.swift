import CCurl
import HumanloopCore

extension String {
    /// "2.0" -> "2" for messages.
    var droppingPointZero: String { hasSuffix(".0") ? String(dropLast(2)) : self }
}
