package humanloop

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// enc is the append-based JSON writer under the request encoders of encode.go: strings, numbers
// and maps written as encoding/json writes them (its float format, sorted map keys, invalid UTF-8
// replaced), without reflection. Values of interface{} type that are not plain strings, numbers,
// booleans, nil, json.RawMessage, or maps and slices of those go through encoding/json.
type enc struct {
	b       []byte
	err     error
	n       int      // members written in the current object
	written []string // keys written, kept only when an Extra map must be checked
	track   bool
}

// open starts an object; track keeps the keys written, for close to check an Extra map against.
func (e *enc) open(track bool) {
	e.b = append(e.b, '{')
	e.n = 0
	e.track = track
	e.written = e.written[:0]
}

// key writes a member's key (a field name: no escaping needed) and the separators before it.
func (e *enc) key(k string) {
	if e.n > 0 {
		e.b = append(e.b, ',')
	}
	e.n++
	e.b = append(e.b, '"')
	e.b = append(e.b, k...) // field names need no escaping
	e.b = append(e.b, '"', ':')
	if e.track {
		e.written = append(e.written, k)
	}
}

// strField writes k: v unless v is empty (omitempty).
func (e *enc) strField(k, v string) {
	if v != "" {
		e.key(k)
		e.str(v)
	}
}

// intPtrField writes k: *v unless v is nil.
func (e *enc) intPtrField(k string, v *int) {
	if v != nil {
		e.key(k)
		e.b = strconv.AppendInt(e.b, int64(*v), 10)
	}
}

// intField writes k: v unless v is 0 (omitempty).
func (e *enc) intField(k string, v int) {
	if v != 0 {
		e.key(k)
		e.b = strconv.AppendInt(e.b, int64(v), 10)
	}
}

// floatPtrField writes k: *v unless v is nil.
func (e *enc) floatPtrField(k string, v *float64) {
	if v != nil {
		e.key(k)
		e.float(*v)
	}
}

// mapField writes k: m unless m is empty (omitempty).
func (e *enc) mapField(k string, m map[string]interface{}) {
	if len(m) > 0 {
		e.key(k)
		e.anyMap(m)
	}
}

// close writes the Extra members (sorted) and the closing brace.
func (e *enc) close(extra map[string]json.RawMessage) {
	if len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, w := range e.written {
				if w == k {
					e.fail(fmt.Errorf("humanloop: Extra key %q is also set by a field", k))
				}
			}
			if e.n > 0 {
				e.b = append(e.b, ',')
			}
			e.n++
			e.str(k)
			e.b = append(e.b, ':')
			e.raw(extra[k])
		}
	}
	e.b = append(e.b, '}')
}

// fail records the first error; finish returns it.
func (e *enc) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// raw writes r as it is (null when empty, as encoding/json does for a nil RawMessage).
func (e *enc) raw(r json.RawMessage) {
	if len(r) == 0 {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, r...)
}

const hexDigits = "0123456789abcdef"

// str writes s as a JSON string (control characters, quote and backslash escaped).
func (e *enc) str(s string) {
	if !utf8.ValidString(s) { // encoding/json replaces invalid bytes with U+FFFD
		b, _ := json.Marshal(s)
		e.b = append(e.b, b...)
		return
	}
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		e.b = append(e.b, s[start:i]...)
		switch c {
		case '"', '\\':
			e.b = append(e.b, '\\', c)
		case '\n':
			e.b = append(e.b, '\\', 'n')
		case '\r':
			e.b = append(e.b, '\\', 'r')
		case '\t':
			e.b = append(e.b, '\\', 't')
		default:
			e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

// float writes f as encoding/json does.
func (e *enc) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.fail(fmt.Errorf("humanloop: unsupported number %v", f))
		e.b = append(e.b, '0')
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		n := len(e.b)
		if n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

// anyMap writes m with its keys sorted, as encoding/json does.
func (e *enc) anyMap(m map[string]interface{}) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.b = append(e.b, '{')
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		e.value(m[k])
	}
	e.b = append(e.b, '}')
}

// value writes a value of an interface{} field (Inputs, Metadata, Other).
func (e *enc) value(v interface{}) {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, "null"...)
	case string:
		e.str(x)
	case bool:
		e.b = strconv.AppendBool(e.b, x)
	case int:
		e.b = strconv.AppendInt(e.b, int64(x), 10)
	case int64:
		e.b = strconv.AppendInt(e.b, x, 10)
	case float64:
		e.float(x)
	case json.RawMessage:
		if x == nil {
			e.b = append(e.b, "null"...)
		} else {
			e.b = append(e.b, x...)
		}
	case map[string]interface{}:
		if x == nil {
			e.b = append(e.b, "null"...)
		} else {
			e.anyMap(x)
		}
	case []interface{}:
		if x == nil {
			e.b = append(e.b, "null"...)
			return
		}
		e.b = append(e.b, '[')
		for i, item := range x {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.value(item)
		}
		e.b = append(e.b, ']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			e.fail(err)
			return
		}
		e.b = append(e.b, b...)
	}
}
