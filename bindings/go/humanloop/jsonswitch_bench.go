//go:build humanloop_jsonbench

package humanloop

// stdJSON: see jsonswitch.go. A variable in this build, set with SetStdJSON.
var stdJSON bool

// SetStdJSON switches the binding between its hand-written JSON code (false, the default) and
// encoding/json (true). For bench/go only; call it only while no call of any client is in flight.
func SetStdJSON(on bool) { stdJSON = on }
