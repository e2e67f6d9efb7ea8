/// Timing of one HTTP exchange, seconds from its start.
public struct PhaseTimings: Sendable {
    public var nameLookup: Double = 0
    public var connect: Double = 0
    public var tlsHandshake: Double = 0
    public var preTransfer: Double = 0
    public var startTransfer: Double = 0
    public var total: Double = 0

    public init() {}

    /// Appends `{"namelookup":s,"connect":s,"tls":s,"pretransfer":s,"starttransfer":s,"total":s}`.
    func write(to output: inout [UInt8]) {
        func phase(_ name: StaticString, _ seconds: Double) {
            output.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            JSONSerializer.writeSeconds(seconds, to: &output)
        }
        phase("{\"namelookup\":", nameLookup)
        phase(",\"connect\":", connect)
        phase(",\"tls\":", tlsHandshake)
        phase(",\"pretransfer\":", preTransfer)
        phase(",\"starttransfer\":", startTransfer)
        phase(",\"total\":", total)
        output.append(UInt8(ascii: "}"))
    }
}
