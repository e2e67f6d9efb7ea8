#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HumanloopCore
import HumanloopTransport

/// What an hl_queue handle points at: the queue, and the strings its last drain handed out.
final class QueueBox {
    let queue: ItemQueue
    /// The strings handed out by the last `drain` (valid until the next one).
    private var handedOut: [UnsafeMutablePointer<CChar>] = []

    init(queue: ItemQueue) { self.queue = queue }

    deinit { releaseHandedOut() }

    private func releaseHandedOut() {
        for text in handedOut { free(text) }
        handedOut.removeAll(keepingCapacity: true)
    }

    /// hl_queue_drain: frees the last drain's items and hands out up to `max` items.
    func drain(into items: UnsafeMutablePointer<CItem>?, max: Int) -> Int {
        releaseHandedOut()
        guard let items, max > 0 else { return 0 }
        var count = 0
        for item in queue.drain(max: max) {
            guard let text = CStrings.copy(item.json) else { break }
            handedOut.append(text)
            items[count] = CItem(call: item.call, tag: item.tag, kind: item.isTerminal ? CItem.result : CItem.event,
                                 json: UnsafePointer(text), len: item.json.count)
            count += 1
        }
        return count
    }
}
