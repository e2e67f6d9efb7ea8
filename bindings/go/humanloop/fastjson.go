package humanloop

import (
	"bytes"
	"encoding/json"
)

// A small decoder for the library's envelopes and the CompletionResponse shape, on the scanner of
// jsonscan.go: one pass, no reflection, sub-slices instead of copies for raw JSON (RawBody, Events,
// ProviderResponses alias the item's bytes). It only handles what it recognises; anything
// unexpected (a type it does not expect, an escape it does not decode itself, a malformed byte, a
// repeated key, a key that differs from a field's only in case) makes it report failure, and the
// caller then decodes with encoding/json, which also produces the error messages. It is fuzzed
// against encoding/json (fastjson_test.go); bench/README.md has what it saves.

// foldKnown reports whether key matches one of names case-insensitively: encoding/json would
// take it for that field, so the fast path gives up on it.
func foldKnown(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

var (
	envelopeKeys = []string{"ok", "done", "status", "attempts", "round_trip_time", "headers", "body", "events", "error", "event", "timings"}
	timingKeys   = []string{"namelookup", "connect", "tls", "pretransfer", "starttransfer", "total"}
	responseKeys = []string{"data", "provider_responses", "project_id", "num_samples", "logprobs", "suffix", "user", "usage", "metadata"}
	usageKeys    = []string{"prompt_tokens", "generation_tokens", "total_tokens"}
	dataKeys     = []string{"id", "index", "output", "raw_output", "inputs", "model_config_id", "finish_reason", "tool_results"}
)

// skipUnknown skips the value of a key none of names matches.
func (s *scan) skipUnknown(key []byte, names []string) bool {
	if foldKnown(key, names...) {
		return false
	}
	_, _, ok := s.skip()
	return ok
}

// fastEnvelope decodes an item of the library into env; false: use encoding/json instead.
func fastEnvelope(b []byte, env *wireEnvelope) bool {
	s := &scan{b: b}
	ok := s.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "ok":
			env.OK, ok = s.boolean()
		case "done":
			env.Done, ok = s.boolean()
		case "status":
			env.Status, ok = s.int()
		case "attempts":
			env.Attempts, ok = s.int()
		case "round_trip_time":
			env.RoundTripTime, ok = s.float()
		case "headers":
			if env.Headers != nil { // a repeated key: encoding/json merges, leave it to it
				return false
			}
			env.Headers, ok = s.stringMap()
		case "body":
			env.Body, ok = s.raw()
		case "events":
			env.Events, ok = s.raw()
		case "error":
			env.Error, ok = s.raw()
		case "event":
			env.Event, ok = s.raw()
		case "timings":
			if env.Timings != nil {
				return false
			}
			t := &wireTimings{}
			env.Timings = t
			ok = s.object(func(key []byte) bool {
				var ok bool
				switch string(key) {
				case "namelookup":
					t.NameLookup, ok = s.float()
				case "connect":
					t.Connect, ok = s.float()
				case "tls":
					t.TLS, ok = s.float()
				case "pretransfer":
					t.PreTransfer, ok = s.float()
				case "starttransfer":
					t.StartTransfer, ok = s.float()
				case "total":
					t.Total, ok = s.float()
				default:
					ok = s.skipUnknown(key, timingKeys)
				}
				return ok
			})
		default:
			ok = s.skipUnknown(key, envelopeKeys)
		}
		return ok
	})
	return ok && s.peek() == 0
}

// fastCompletionResponse decodes a body (or a stream event) into r; false: use encoding/json instead.
func fastCompletionResponse(b []byte, r *CompletionResponse) bool {
	s := &scan{b: b}
	ok := s.object(func(key []byte) bool {
		if s.null() {
			return true
		}
		var ok bool
		switch string(key) {
		case "data":
			if r.Data != nil {
				return false
			}
			r.Data = []DataResponse{}
			ok = s.array(func() bool {
				r.Data = append(r.Data, DataResponse{})
				return fastData(s, &r.Data[len(r.Data)-1])
			})
		case "provider_responses":
			if r.ProviderResponses != nil {
				return false
			}
			r.ProviderResponses = []json.RawMessage{}
			ok = s.array(func() bool {
				raw, ok := s.raw()
				r.ProviderResponses = append(r.ProviderResponses, raw)
				return ok
			})
		case "project_id":
			r.ProjectID, ok = s.str()
		case "num_samples":
			r.NumSamples, ok = s.int()
		case "logprobs":
			var n int
			n, ok = s.int()
			r.Logprobs = &n
		case "suffix":
			r.Suffix, ok = s.str()
		case "user":
			r.User, ok = s.str()
		case "usage":
			if r.Usage != nil {
				return false
			}
			u := &Usage{}
			r.Usage = u
			ok = s.object(func(key []byte) bool {
				var ok bool
				switch string(key) {
				case "prompt_tokens":
					u.PromptTokens, ok = s.int()
				case "generation_tokens":
					u.GenerationTokens, ok = s.int()
				case "total_tokens":
					u.TotalTokens, ok = s.int()
				default:
					ok = s.skipUnknown(key, usageKeys)
				}
				return ok
			})
		case "metadata":
			if r.Metadata != nil {
				return false
			}
			r.Metadata, ok = s.anyMap()
		default:
			ok = s.skipUnknown(key, responseKeys)
		}
		return ok
	})
	return ok && s.peek() == 0
}

// fastData decodes one element of "data".
func fastData(s *scan, d *DataResponse) bool {
	return s.object(func(key []byte) bool {
		if s.null() {
			return true
		}
		var ok bool
		switch string(key) {
		case "id":
			d.ID, ok = s.str()
		case "index":
			d.Index, ok = s.int()
		case "output":
			d.Output, ok = s.str()
		case "raw_output":
			d.RawOutput, ok = s.str()
		case "inputs":
			if d.Inputs != nil {
				return false
			}
			d.Inputs, ok = s.anyMap()
		case "model_config_id":
			d.ModelConfigID, ok = s.str()
		case "finish_reason":
			d.FinishReason, ok = s.strOrNull()
		case "tool_results":
			if d.ToolResults != nil {
				return false
			}
			ok = s.generic(&d.ToolResults)
		default:
			ok = s.skipUnknown(key, dataKeys)
		}
		return ok
	})
}

// decodeCompletionResponse decodes a body (fast path, else encoding/json).
func decodeCompletionResponse(b []byte, r *CompletionResponse) error {
	if !stdJSON && fastCompletionResponse(b, r) {
		return nil
	}
	*r = CompletionResponse{}
	return json.Unmarshal(b, r)
}

// decodeWireEnvelope decodes an item (fast path, else encoding/json).
func decodeWireEnvelope(b []byte, env *wireEnvelope) error {
	if !stdJSON && fastEnvelope(b, env) {
		return nil
	}
	*env = wireEnvelope{}
	return json.Unmarshal(b, env)
}
