//go:build !humanloop_jsonbench

package humanloop

// stdJSON, when true, makes the binding encode the typed requests and decode the library's items
// with encoding/json instead of its hand-written code (encode.go, fastjson.go). It is a constant
// false in every build but -tags humanloop_jsonbench (jsonswitch_bench.go), which exists only to
// measure the two against each other (bench/go, variant go-stdjson; bench/README.md).
const stdJSON = false
