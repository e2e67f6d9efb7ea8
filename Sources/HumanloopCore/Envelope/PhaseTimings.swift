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
        let phases = [("{\"namelookup\":", nameLookup), (",\"connect\":", connect), (",\"tls\":", tlsHandshake),
                      (",\"pretransfer\":", preTransfer), (",\"starttransfer\":", startTransfer), (",\"total\":", total)]
        for (name, seconds) in phases {
            output.append(contentsOf: name.utf8)
            JSONSerializer.writeSeconds(seconds, to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}
