/// A JSON object that keeps its members in insertion order.
///
/// Small objects (the usual case in this API) are searched linearly; once an object has more
/// than `indexThreshold` members it keeps a hash index from key to position, so building,
/// reading and updating an object of n members costs O(n) in all, whatever n is.
public struct JSONObject: Equatable, Sendable, Sequence {
    /// The members in order.
    public private(set) var members: [(key: String, value: JSONValue)]
    /// Position of each key in `members`, kept once the object is larger than `indexThreshold`.
    private var positions: [String: Int]?

    /// Objects with more members than this get a hash index.
    private static let indexThreshold = 16

    /// An empty object.
    public init() { members = [] }

    /// An object with these members, in this order (a repeated key keeps the last value).
    public init(_ pairs: [(String, JSONValue)]) {
        members = []
        members.reserveCapacity(pairs.count)
        for (key, value) in pairs { self[key] = value }
    }

    /// An object of members whose keys are known to be distinct (as jansson's are), in order.
    init(distinctMembers: [(key: String, value: JSONValue)]) {
        members = distinctMembers
        buildIndexIfLarge()
    }

    /// The number of members.
    public var count: Int { members.count }

    /// True when the object has no members.
    public var isEmpty: Bool { members.isEmpty }

    /// The keys in order.
    public var keys: [String] { members.map { $0.key } }

    /// Reads, replaces (in place), appends or (with `nil`) removes a member.
    ///
    /// Reads, replacements and appends take constant time on average; removing a member takes
    /// time linear in the size of the object.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let position = position(of: key) else { return nil }
            return members[position].value
        }
        set {
            if let position = position(of: key) {
                if let newValue {
                    members[position].value = newValue
                } else {
                    members.remove(at: position)
                    positions = nil
                    buildIndexIfLarge()
                }
            } else if let newValue {
                members.append((key: key, value: newValue))
                if positions != nil {
                    positions?[key] = members.count - 1
                } else {
                    buildIndexIfLarge()
                }
            }
        }
    }

    private func position(of key: String) -> Int? {
        if let positions { return positions[key] }
        return members.firstIndex { $0.key == key }
    }

    private mutating func buildIndexIfLarge() {
        guard members.count > Self.indexThreshold else { return }
        var index: [String: Int] = [:]
        index.reserveCapacity(members.count * 2)
        for (position, member) in members.enumerated() { index[member.key] = position }
        positions = index
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        members.makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
