package humanloop

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// A small decoder for the library's envelopes and the CompletionResponse shape: one pass, no
// reflection, sub-slices instead of copies for raw JSON (RawBody, Events, ProviderResponses alias
// the item's bytes). It only handles what it recognises; anything unexpected (a type it does
// not expect, an escape it does not decode itself, a malformed byte) makes it report failure,
// and the caller then decodes with encoding/json, which also produces the error messages.

type scan struct {
	b []byte
	i int
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-blank byte (0 at the end).
func (s *scan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scan) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// strSpan reads a string; it returns its contents' span and whether it has escapes.
func (s *scan) strSpan() (a, e int, esc, ok bool) {
	if s.peek() != '"' {
		return 0, 0, false, false
	}
	s.i++
	a = s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			e = s.i
			s.i++
			return a, e, esc, true
		case c == '\\':
			esc = true
			s.i += 2
		case c < 0x20:
			return 0, 0, false, false
		default:
			s.i++
		}
	}
	return 0, 0, false, false
}

func (s *scan) str() (string, bool) {
	a, e, esc, ok := s.strSpan()
	if !ok {
		return "", false
	}
	if !esc {
		for _, c := range s.b[a:e] {
			if c >= 0x80 { // encoding/json replaces invalid UTF-8: let it decide
				if !utf8.Valid(s.b[a:e]) {
					return "", false
				}
				break
			}
		}
		return string(s.b[a:e]), true
	}
	var out string
	if json.Unmarshal(s.b[a-1:e+1], &out) != nil {
		return "", false
	}
	return out, true
}

// strOrNull reads a string or null ("").
func (s *scan) strOrNull() (string, bool) {
	if s.peek() == 'n' {
		return "", s.lit("null")
	}
	return s.str()
}

// skip skips any value and returns its span.
func (s *scan) skip() (a, e int, ok bool) {
	c := s.peek()
	a = s.i
	switch {
	case c == '"':
		if _, _, _, ok := s.strSpan(); !ok {
			return 0, 0, false
		}
	case c == '{' || c == '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, _, ok := s.strSpan(); !ok {
					return 0, 0, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return a, s.i, true
				}
			}
			s.i++
		}
		return 0, 0, false
	case c == 't':
		if !s.lit("true") {
			return 0, 0, false
		}
	case c == 'f':
		if !s.lit("false") {
			return 0, 0, false
		}
	case c == 'n':
		if !s.lit("null") {
			return 0, 0, false
		}
	case c == '-' || (c >= '0' && c <= '9'):
		for s.i < len(s.b) {
			c := s.b[s.i]
			if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				s.i++
				continue
			}
			break
		}
	default:
		return 0, 0, false
	}
	return a, s.i, true
}

func (s *scan) raw() (json.RawMessage, bool) {
	a, e, ok := s.skip()
	if !ok {
		return nil, false
	}
	return json.RawMessage(s.b[a:e:e]), true
}

func (s *scan) float() (float64, bool) {
	a, e, ok := s.skip()
	if !ok || a == e || !(s.b[a] == '-' || (s.b[a] >= '0' && s.b[a] <= '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s.b[a:e]), 64)
	return f, err == nil
}

func (s *scan) int() (int, bool) {
	a, e, ok := s.skip()
	if !ok || a == e {
		return 0, false
	}
	n, err := strconv.Atoi(string(s.b[a:e]))
	return n, err == nil
}

func (s *scan) boolean() (bool, bool) {
	switch s.peek() {
	case 't':
		return true, s.lit("true")
	case 'f':
		return false, s.lit("false")
	}
	return false, false
}

// object calls member for each key (positioned at the value); member returns false to fail.
func (s *scan) object(member func(key []byte) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		a, e, esc, ok := s.strSpan()
		if !ok || esc || s.peek() != ':' {
			return false
		}
		s.i++
		if !member(s.b[a:e]) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// array calls item for each element.
func (s *scan) array(item func() bool) bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !item() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scan) null() bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	return false
}

// generic decodes the value with encoding/json (for maps of any values).
func (s *scan) generic(v interface{}) bool {
	a, e, ok := s.skip()
	return ok && json.Unmarshal(s.b[a:e], v) == nil
}

func (s *scan) stringMap() (map[string]string, bool) {
	if s.null() {
		return nil, true
	}
	m := map[string]string{}
	ok := s.object(func(key []byte) bool {
		v, ok := s.str()
		m[string(key)] = v
		return ok
	})
	return m, ok
}

// anyMap reads an object; string values are decoded here, others through encoding/json.
func (s *scan) anyMap() (map[string]interface{}, bool) {
	if s.null() {
		return nil, true
	}
	start := s.i
	m := map[string]interface{}{}
	ok := s.object(func(key []byte) bool {
		if s.peek() != '"' {
			return false
		}
		v, ok := s.str()
		m[string(key)] = v
		return ok
	})
	if ok {
		return m, true
	}
	s.i = start
	m = nil
	return m, s.generic(&m)
}

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
	if fastCompletionResponse(b, r) {
		return nil
	}
	*r = CompletionResponse{}
	return json.Unmarshal(b, r)
}

// decodeWireEnvelope decodes an item (fast path, else encoding/json).
func decodeWireEnvelope(b []byte, env *wireEnvelope) error {
	if fastEnvelope(b, env) {
		return nil
	}
	*env = wireEnvelope{}
	return json.Unmarshal(b, env)
}
