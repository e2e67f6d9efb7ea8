import HumanloopCore
import HumanloopTransport

/// The C callback of an asynchronous call (hl_callback): the call, the item's kind
/// (`CItem.event` or `CItem.result`), the item (NUL-terminated, valid during the callback) and
/// its length without the NUL, the user data.
public typealias CallCallback = @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Void

/// What an hl_call handle points at.
final class CallBox {
    var call: AsyncCall?
    /// A batch's handle (hl_batch_submit) has a batch instead of a call.
    var batch: BatchRun?
}
