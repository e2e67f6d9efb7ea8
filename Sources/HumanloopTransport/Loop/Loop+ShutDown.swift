#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl
import HumanloopCore

// The end of a loop: every call still running ends as cancelled, then libcurl is cleaned up.
extension Loop {
    /// The client was freed: every call still running ends as cancelled, and so does every call
    /// started meanwhile (a callback may start one while its own call is being cancelled); then
    /// everything of libcurl is cleaned up on this thread.
    func shutDown() {
        ForkGate.shared.inside { shutDownInside() }
    }

    func shutDownInside() {
        endActiveCalls()
        while true {
            let queued = lock.withLock { () -> [Command] in
                defer { commands.removeAll() }
                return commands
            }
            if queued.isEmpty { break }
            for case .start(let asyncCall) in queued {
                guard let call = asyncCall.call else {
                    deliver(asyncCall, asyncCall.failureResult(.connectionError("the call has no request")), terminal: true)
                    continue
                }
                deliver(asyncCall, call.result(.failure(.cancelled("the call was cancelled: its client was freed"))), terminal: true)
            }
        }
        for entry in draining { _ = entry.transfer.releaseHandle() }
        draining.removeAll()
        idleHandles.removeAll()
        lock.withLock { isShutDown = true }
        if let multi { curl_multi_cleanup(multi) }
    }

    /// Ends every call in flight as cancelled ("its client was freed").
    func endActiveCalls() {
        while let asyncCall = active.last {
            guard let call = asyncCall.call else {
                removeActive(asyncCall)
                continue
            }
            let output: Call.Output
            if case .failure(.cancelled(let message)) = call.cancelledOutput(during: asyncCall.transfer) {
                output = .failure(.cancelled(message + ": its client was freed"))
            } else {
                output = .failure(.cancelled("the call was cancelled: its client was freed"))
            }
            end(asyncCall, with: output)
        }
    }
}
