// swift-tools-version:6.0
// libhumanloop: a C-ABI client for the Humanloop v4 completions API.
//
// Layers (each its own target):
//   CCurl, CJansson      system libraries (module map + shim header)
//   HumanloopCore        Swift: JSON values (read with jansson, JSON/JSONReader.swift only), request
//                        validation, provider keys, SSE, retry, the envelopes' byte format; URLs and HTTP dates are
//                        read by libcurl's own pure parsers (URL/CurlURL.swift, Retry/HTTPDate.swift)
//   HumanloopTransport   libcurl: connection pool, timeouts, timings, streaming driver; typed results
//   CABI                 the C ABI: @_cdecl exports and the one envelope encoder -> libhumanloop.so (product "humanloop";
//                        the names Humanloop, HumanloopClient and HumanloopError are left for a
//                        Swift API)
//   Humanloop            the Swift API (import Humanloop): async/await, Codable types,
//                        AsyncThrowingStream, on the C ABI's entry points (hl_call_start, ...);
//                        Foundation's JSONEncoder/JSONDecoder are used here only, never in the .so
//   HumanloopExample     examples/swift: an executable using the Swift API
//   HumanloopSwiftBench  bench/swift: the Swift API vs the C API, CPU per call (bash bench/run.sh swift)
import PackageDescription

let package = Package(
    name: "libhumanloop",
    products: [
        .library(name: "humanloop", type: .dynamic, targets: ["CABI"]),
        .library(name: "Humanloop", targets: ["Humanloop"]),
        .executable(name: "HumanloopExample", targets: ["HumanloopExample"]),
        .executable(name: "HumanloopSwiftBench", targets: ["HumanloopSwiftBench"]),
    ],
    targets: [
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CJansson", path: "Sources/CJansson", pkgConfig: "jansson",
                       providers: [.apt(["libjansson-dev"])]),
        .target(name: "HumanloopCore", dependencies: ["CJansson", "CCurl"], path: "Sources/HumanloopCore"),
        .target(name: "HumanloopTransport", dependencies: ["HumanloopCore", "CCurl"],
                path: "Sources/HumanloopTransport"),
        .target(name: "CABI", dependencies: ["HumanloopCore", "HumanloopTransport"],
                path: "Sources/CABI", exclude: ["exports.map"]),
        .target(name: "Humanloop", dependencies: ["CABI"], path: "Sources/Humanloop"),
        .executableTarget(name: "HumanloopExample", dependencies: ["Humanloop"], path: "examples/swift/HumanloopExample"),
        .executableTarget(name: "HumanloopSwiftBench", dependencies: ["Humanloop", "CABI"],
                          path: "bench/swift/HumanloopSwiftBench"),
        .testTarget(name: "HumanloopCoreTests", dependencies: ["HumanloopCore", "CJansson"],
                    path: "Tests/HumanloopCoreTests", exclude: ["make_python_float_table.py"]),
        .testTarget(name: "HumanloopTransportTests", dependencies: ["HumanloopTransport", "HumanloopCore", "CCurl"],
                    path: "Tests/HumanloopTransportTests"),
        .testTarget(name: "HumanloopTests", dependencies: ["Humanloop", "CABI"], path: "Tests/HumanloopTests"),
    ]
)
