// HumanloopSwiftBench — issue 21 "Measured": CPU per call of the Swift API (`import Humanloop`)
// against the C API in the same process, same server, same run. Variants:
//
//   (a) C concurrent      N calls in flight at once: hl_call_start with a @convention(c)
//                         callback that checks the terminal item ({"ok":true,), frees its handle
//                         and counts; the last one signals a semaphore the main thread waits on.
//   (b) Swift concurrent  a TaskGroup of N `try await client.complete(request)`.
//   (c) C sequential      S blocking hl_complete calls (checked by prefix, hl_free).
//   (d) Swift sequential  S `try await client.complete(request)` one after the other.
//   (g) C sequential on the engine: S calls one after the other through hl_call_start, each
//                         waited for (the engine's path, which (d) must take: a cooperative
//                         thread may not block; (c) runs its loop on the calling thread).
//   (e) hand-off floor, concurrent; (f) hand-off floor, sequential (HandOffFloor.swift): the
//                         task, continuation and thread hops alone (no library, no network), as
//                         (b) and (d) make them. (a + e) / a and (c + f) / c are the lowest
//                         ratios any Swift async API over an engine thread can reach here.
//
// The request is the body of the other benches (bench/bench_c_api.c's BODY); in (b) and (d) it is
// the same request as typed values (encoded by the Swift API on every call). Each variant has its
// own client (its own connections, "max_connections" 100 by default: four clients of the default
// 1000 would not fit the process's 1024 descriptors nor nginx's 1024 worker connections, and the
// runs would measure reconnects), warmed up by one uncounted run. CPU = getrusage(RUSAGE_SELF)
// user + sys of the whole process (engine thread, cooperative pool, everything) per call; wall =
// the monotonic clock. R rounds; within a round the pairs run as ab/cd in odd rounds and ba/dc in
// even ones (ABAB...), so drift spreads over both sides. Reported: per round the CPU per call and
// the ratios b/a and d/c; the median of the per-round ratios (the figure to quote) and min..max;
// the load average before and after.
//
// Usage: HumanloopSwiftBench --url=http://127.0.0.1:PORT/v4 [--calls=1000] [--sequential=1000]
//                            [--rounds=7] [--max-connections=100] [--label=TEXT] [--only=a|b|c|d|e|f|g]
// --only=V runs variant V alone, R times, and prints its CPU per call (no ratios): a profiling aid
// (`perf record`) that keeps the other variants out of the profile. --only=g: the C API through
// the engine, one call after the other (hl_call_start, then wait for its callback); it is also
// measured in every round, to tell the engine's path from (c)'s loop on the calling thread.
// Exit status: 0 when every call succeeded (whatever the figures), 1 otherwise, 2 bad usage.
import CABI
import Foundation
import Humanloop

var url: String?
var calls = 1000, sequentialCalls = 1000, rounds = 7, maxConnections = 100
var label = ""
var only: String?
for argument in CommandLine.arguments.dropFirst() {
    let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
    let value = parts.count == 2 ? parts[1] : ""
    switch parts[0] {
    case "--url": url = value
    case "--calls": calls = Int(value) ?? calls
    case "--sequential": sequentialCalls = Int(value) ?? sequentialCalls
    case "--rounds": rounds = Int(value) ?? rounds
    case "--max-connections": maxConnections = Int(value) ?? maxConnections
    case "--label": label = value
    case "--only" where ["a", "b", "c", "d", "e", "f", "g"].contains(value): only = value
    default:
        FileHandle.standardError.write(Data("HumanloopSwiftBench: unknown argument \(argument)\n".utf8))
        exit(2)
    }
}
guard let url, calls > 0, sequentialCalls > 0, rounds > 0 else {
    FileHandle.standardError.write(Data("usage: HumanloopSwiftBench --url=http://127.0.0.1:PORT/v4 [--calls=1000] [--sequential=1000] [--rounds=7] [--max-connections=100] [--label=TEXT] [--only=a|b|c|d|e|f|g]\n".utf8))
    exit(2)
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
}

func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// One timed run: (CPU µs per call, wall µs per call, failures).
func measure(_ n: Int, _ body: () async -> Int) async -> (cpu: Double, wall: Double, failures: Int) {
    let cpu0 = cpuSeconds()
    let wall0 = ContinuousClock.now
    let failures = await body()
    let wall = ContinuousClock.now - wall0
    let cpu = cpuSeconds() - cpu0
    let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
    return (cpu * 1e6 / Double(n), wallSeconds * 1e6 / Double(n), failures)
}

let cConcurrentClient = CBaseline.client(url: url, maxConnections: maxConnections)
let cSequentialClient = CBaseline.client(url: url, maxConnections: maxConnections)
let swiftConcurrentClient: HumanloopClient
let swiftSequentialClient: HumanloopClient
do {
    swiftConcurrentClient = try SwiftVariants.client(url: url, maxConnections: maxConnections)
    swiftSequentialClient = try SwiftVariants.client(url: url, maxConnections: maxConnections)
} catch {
    FileHandle.standardError.write(Data("HumanloopSwiftBench: HumanloopClient: \(error)\n".utf8))
    exit(2)
}

let loadBefore = loadAverage()
print("Swift API vs C API, CPU per call (getrusage RUSAGE_SELF), \(url) \(label)")
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average before: \(loadBefore)")
print("concurrent: \(calls) calls in flight (max_connections \(maxConnections) per client); sequential: \(sequentialCalls) calls; \(rounds) rounds (ab/cd, ba/dc, ...)")

// Warm-up: one uncounted run of each variant.
var failures = CBaseline.concurrent(client: cConcurrentClient, n: calls)
failures += await SwiftVariants.concurrent(client: swiftConcurrentClient, n: calls)
failures += CBaseline.sequential(client: cSequentialClient, n: min(sequentialCalls, 200))
failures += await SwiftVariants.sequential(client: swiftSequentialClient, n: min(sequentialCalls, 200))

let standInEngine = StandInEngine()
failures += await HandOffFloor.concurrent(engine: standInEngine, n: calls)
failures += await HandOffFloor.sequential(engine: standInEngine, n: min(sequentialCalls, 200))

if let only {
    for round in 1...rounds {
        let run: (cpu: Double, wall: Double, failures: Int)
        switch only {
        case "a": run = await measure(calls) { CBaseline.concurrent(client: cConcurrentClient, n: calls) }
        case "b": run = await measure(calls) { await SwiftVariants.concurrent(client: swiftConcurrentClient, n: calls) }
        case "c": run = await measure(sequentialCalls) { CBaseline.sequential(client: cSequentialClient, n: sequentialCalls) }
        case "e": run = await measure(calls) { await HandOffFloor.concurrent(engine: standInEngine, n: calls) }
        case "f": run = await measure(sequentialCalls) { await HandOffFloor.sequential(engine: standInEngine, n: sequentialCalls) }
        case "g": run = await measure(sequentialCalls) { CBaseline.sequentialOnTheEngine(client: cSequentialClient, n: sequentialCalls) }
        default: run = await measure(sequentialCalls) { await SwiftVariants.sequential(client: swiftSequentialClient, n: sequentialCalls) }
        }
        failures += run.failures
        print(String(format: "round %d: (%@) %.1f CPU µs/call (wall %.1f)", round, only, run.cpu, run.wall))
    }
    exit(failures > 0 ? 1 : 0)
}

var concurrentRatios: [Double] = [], sequentialRatios: [Double] = []
var concurrentFloorRatios: [Double] = [], sequentialFloorRatios: [Double] = []
var cpuPerVariant: [[Double]] = [[], [], [], [], [], [], []]
var engineSequentialRatios: [Double] = []
print("round |  (a) C conc  (b) Swift conc   b/a  |  (c) C seq  (d) Swift seq   d/c  | (e) floor conc (f) floor seq | (g) C seq on the engine  d/g | CPU µs/call (wall µs/call)")
for round in 1...rounds {
    var a = (cpu: 0.0, wall: 0.0, failures: 0), b = a, c = a, d = a
    let e = await measure(calls) { await HandOffFloor.concurrent(engine: standInEngine, n: calls) }
    let f = await measure(sequentialCalls) { await HandOffFloor.sequential(engine: standInEngine, n: sequentialCalls) }
    let g = await measure(sequentialCalls) { CBaseline.sequentialOnTheEngine(client: cSequentialClient, n: sequentialCalls) }
    let forward = round % 2 == 1
    if forward {
        a = await measure(calls) { CBaseline.concurrent(client: cConcurrentClient, n: calls) }
        b = await measure(calls) { await SwiftVariants.concurrent(client: swiftConcurrentClient, n: calls) }
        c = await measure(sequentialCalls) { CBaseline.sequential(client: cSequentialClient, n: sequentialCalls) }
        d = await measure(sequentialCalls) { await SwiftVariants.sequential(client: swiftSequentialClient, n: sequentialCalls) }
    } else {
        b = await measure(calls) { await SwiftVariants.concurrent(client: swiftConcurrentClient, n: calls) }
        a = await measure(calls) { CBaseline.concurrent(client: cConcurrentClient, n: calls) }
        d = await measure(sequentialCalls) { await SwiftVariants.sequential(client: swiftSequentialClient, n: sequentialCalls) }
        c = await measure(sequentialCalls) { CBaseline.sequential(client: cSequentialClient, n: sequentialCalls) }
    }
    failures += a.failures + b.failures + c.failures + d.failures
    concurrentRatios.append(b.cpu / a.cpu)
    sequentialRatios.append(d.cpu / c.cpu)
    concurrentFloorRatios.append((a.cpu + e.cpu) / a.cpu)
    sequentialFloorRatios.append((c.cpu + f.cpu) / c.cpu)
    engineSequentialRatios.append(d.cpu / g.cpu)
    failures += e.failures + f.failures + g.failures
    for (index, run) in [a, b, c, d, e, f, g].enumerated() { cpuPerVariant[index].append(run.cpu) }
    print(String(format: "%5d | %6.1f (%5.1f) %6.1f (%5.1f)  x%.2f | %6.1f (%5.1f) %6.1f (%5.1f)  x%.2f | %6.1f (%5.1f) %6.1f (%5.1f) | %6.1f (%5.1f)  x%.2f | ",
                 round, a.cpu, a.wall, b.cpu, b.wall, b.cpu / a.cpu, c.cpu, c.wall, d.cpu, d.wall, d.cpu / c.cpu,
                 e.cpu, e.wall, f.cpu, f.wall, g.cpu, g.wall, d.cpu / g.cpu) + (forward ? "ab cd" : "ba dc"))
}
let loadAfter = loadAverage()
let bound = 1.3
let concurrentMedian = median(concurrentRatios), sequentialMedian = median(sequentialRatios)
print(String(format: "CPU µs/call, medians: (a) %.1f  (b) %.1f  (c) %.1f  (d) %.1f  (e) %.1f  (f) %.1f  (g) %.1f",
             median(cpuPerVariant[0]), median(cpuPerVariant[1]), median(cpuPerVariant[2]), median(cpuPerVariant[3]),
             median(cpuPerVariant[4]), median(cpuPerVariant[5]), median(cpuPerVariant[6])))
print(String(format: "the C API's own engine path, sequential: (g)/(c) median x%.2f; Swift sequential against it: (d)/(g) median x%.2f",
             median(zip(cpuPerVariant[6], cpuPerVariant[2]).map { $0 / $1 }), median(engineSequentialRatios)))
print(String(format: "lowest reachable with the hand-off alone: concurrent (a+e)/a median x%.2f, sequential (c+f)/c median x%.2f",
             median(concurrentFloorRatios), median(sequentialFloorRatios)))
print(String(format: "Swift/C concurrent (TaskGroup of %d vs hl_call_start): median x%.2f (rounds x%.2f..x%.2f) — bound x%.1f ",
             calls, concurrentMedian, concurrentRatios.min()!, concurrentRatios.max()!, bound)
      + (concurrentMedian <= bound ? "met" : "MISSED"))
print(String(format: "Swift/C sequential (complete vs hl_complete): median x%.2f (rounds x%.2f..x%.2f) — bound x%.1f ",
             sequentialMedian, sequentialRatios.min()!, sequentialRatios.max()!, bound)
      + (sequentialMedian <= bound ? "met" : "MISSED"))
print("load average after: \(loadAfter)")
if failures > 0 {
    print("FAILED calls: \(failures)")
    exit(1)
}
