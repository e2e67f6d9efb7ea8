/// `hl_item` of include/humanloop.h, field for field (same order, C alignment): one item that
/// hl_loop_run hands out.
struct CItem {
    /// `HL_ITEM_EVENT`: one stream event; `HL_ITEM_RESULT`: the call's terminal item.
    static let event: Int32 = 1
    static let result: Int32 = 2

    var call: OpaquePointer?
    var tag: UnsafeMutableRawPointer?
    var kind: Int32
    var json: UnsafePointer<CChar>?
    var len: Int
}
