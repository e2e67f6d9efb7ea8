import CABI
import Foundation

/// The C API's side of the bench, called from Swift exactly as a C program calls it: the
/// `hl_*` functions of the C ABI on raw C strings, results checked with a prefix compare
/// (`{"ok":true,`), as `bench/bench_c_api.c` does.
enum CBaseline {
    /// The request body every variant sends (the same bytes as the C benches' `BODY`).
    static let body = #"{"project":"bench","model_config":{"model":"gpt-3.5-turbo-instruct","prompt_template":"{{question}}","temperature":0.7,"max_tokens":-1},"inputs":{"question":"What do llamas eat?"}}"#

    /// A C client: `hl_client_new` with the bench's key, the server's URL, no proxy and at most
    /// `maxConnections` connections.
    static func client(url: String, maxConnections: Int) -> OpaquePointer {
        let config = #"{"api_key":"bench-key","host":"\#(url)","proxy":"","max_connections":\#(maxConnections)}"#
        var error: UnsafeMutablePointer<CChar>?
        guard let client = hl_client_new(config, &error) else {
            fatalError("hl_client_new: \(error.map { String(cString: $0) } ?? "(null)")")
        }
        return client
    }

    /// Whether an envelope is `{"ok":true,...}`.
    static func isOK(_ json: UnsafePointer<CChar>?) -> Bool {
        guard let json else { return false }
        return strncmp(json, "{\"ok\":true,", 11) == 0
    }

    /// (a) `n` calls in flight at once: `hl_call_start` with a C callback each; the callback
    /// checks the terminal item, frees its handle and counts; the last one signals the waiter.
    /// Returns the number of failed calls.
    static func concurrent(client: OpaquePointer, n: Int) -> Int {
        let run = InFlightRun(n: n)
        let user = Unmanaged.passRetained(run).toOpaque()
        defer { Unmanaged<InFlightRun>.fromOpaque(user).release() }
        body.withCString { request in
            for _ in 0..<n {
                if hl_call_start(client, "complete", request, nil, inFlightCallback, user) == nil {
                    fatalError("hl_call_start: NULL")
                }
            }
        }
        run.done.wait()
        return run.failures
    }

    /// (g) `n` calls through the engine one after the other: `hl_call_start`, then wait for its
    /// callback (the engine's path, where (c) runs its loop on the calling thread). Returns the
    /// number of failed calls.
    static func sequentialOnTheEngine(client: OpaquePointer, n: Int) -> Int {
        var failures = 0
        body.withCString { request in
            for _ in 0..<n {
                let run = InFlightRun(n: 1)
                let user = Unmanaged.passRetained(run).toOpaque()
                if hl_call_start(client, "complete", request, nil, inFlightCallback, user) == nil {
                    fatalError("hl_call_start: NULL")
                }
                run.done.wait()
                failures += run.failures
                Unmanaged<InFlightRun>.fromOpaque(user).release()
            }
        }
        return failures
    }

    /// (c) `n` sequential blocking `hl_complete` calls on the calling thread. Returns the
    /// number of failed calls.
    static func sequential(client: OpaquePointer, n: Int) -> Int {
        var failures = 0
        body.withCString { request in
            for _ in 0..<n {
                let answer = hl_complete(client, request)
                if !isOK(answer) { failures += 1 }
                hl_free(answer)
            }
        }
        return failures
    }
}

/// The `hl_callback` of (a) (runs on the client's engine thread): a `@convention(c)` closure
/// that captures nothing; its state comes through `user_data`.
private let inFlightCallback: CallCallback = { call, kind, json, _, user in
    guard kind == 2, let user else { return }   // HL_ITEM_RESULT
    let run = Unmanaged<InFlightRun>.fromOpaque(user).takeUnretainedValue()
    let ok = CBaseline.isOK(json)
    hl_call_free(call)   // its own handle, from inside its callback: allowed
    run.finished(ok: ok)
}
