package humanloop

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// scan is the one-pass JSON reader under the decoders of fastjson.go: it reads values in place
// (sub-slices of the input, no reflection) and reports false for anything it does not handle
// itself (an escape in a key, a type it does not expect, a malformed byte), so that the caller
// can fall back to encoding/json.
type scan struct {
	b []byte
	i int
}

// ws skips blanks.
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

// lit reads word (true, false, null) if it comes next.
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

// str reads a string (escapes decoded by encoding/json).
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

// raw reads any value and returns its bytes (a sub-slice of the input, capacity capped).
func (s *scan) raw() (json.RawMessage, bool) {
	a, e, ok := s.skip()
	if !ok {
		return nil, false
	}
	return json.RawMessage(s.b[a:e:e]), true
}

// float reads a number.
func (s *scan) float() (float64, bool) {
	a, e, ok := s.skip()
	if !ok || a == e || !(s.b[a] == '-' || (s.b[a] >= '0' && s.b[a] <= '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s.b[a:e]), 64)
	return f, err == nil
}

// int reads an integer (anything strconv.Atoi refuses fails the fast path).
func (s *scan) int() (int, bool) {
	a, e, ok := s.skip()
	if !ok || a == e {
		return 0, false
	}
	n, err := strconv.Atoi(string(s.b[a:e]))
	return n, err == nil
}

// boolean reads true or false.
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

// null reads null if it comes next.
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

// stringMap reads an object of strings, or null (nil).
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
