package humanloop

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The per-call options (CallOption) and their encoding as the library's options_json.

// CallOption sets an option of one call (or, through Client.WithOptions, of every call).
type CallOption func(*callOptions)

// callOptions are the options set by a call's CallOptions (nil: the client's setting).
type callOptions struct {
	timeout, connectTimeout, lowSpeedTimeout *time.Duration
	maxRetries                               *int
	headers                                  [][2]string
}

// WithTimeout sets the call's timeout (the library's "timeout"; when it runs out the call fails
// with *TimeoutError): each attempt of a non-stream call; for a stream only the wait for the
// answer's head and first event, after which only the low-speed timeout (the longest gap
// between bytes) applies, so a stream that keeps sending never times out. A context deadline
// ends any call, a stream included: that is the overall deadline.
func WithTimeout(d time.Duration) CallOption { return func(o *callOptions) { o.timeout = &d } }

// WithConnectTimeout sets the time allowed to establish a connection.
func WithConnectTimeout(d time.Duration) CallOption {
	return func(o *callOptions) { o.connectTimeout = &d }
}

// WithLowSpeedTimeout sets how long the call may go without receiving a byte.
func WithLowSpeedTimeout(d time.Duration) CallOption {
	return func(o *callOptions) { o.lowSpeedTimeout = &d }
}

// WithMaxRetries sets the number of retries (0..100; 0 = a single attempt).
func WithMaxRetries(n int) CallOption { return func(o *callOptions) { o.maxRetries = &n } }

// WithHeader adds a request header (a later value of the same name replaces an earlier one).
// X-API-KEY, Content-Type, Content-Length and Host cannot be set; other names replace the
// library's value (User-Agent, Accept). CR, LF or NUL in a value is a *ValidationError.
func WithHeader(name, value string) CallOption {
	return func(o *callOptions) { o.headers = append(o.headers, [2]string{name, value}) }
}

// WithHeaders adds request headers (see WithHeader).
func WithHeaders(h http.Header) CallOption {
	return func(o *callOptions) {
		for name, values := range h {
			if len(values) > 0 {
				o.headers = append(o.headers, [2]string{name, strings.Join(values, ", ")})
			}
		}
	}
}

// appendSeconds appends ,"key":seconds.
func appendSeconds(b []byte, key string, d time.Duration) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, d.Seconds(), 'g', -1, 64)
}

// optionsJSON builds the options object (NUL-terminated), or returns nil for none.
func optionsJSON(defaults, opts []CallOption, stream bool) []byte {
	if len(defaults) == 0 && len(opts) == 0 {
		if stream {
			return []byte("{\"stream\":true}\x00")
		}
		return nil
	}
	var o callOptions
	for _, f := range defaults {
		f(&o)
	}
	for _, f := range opts {
		f(&o)
	}
	b := make([]byte, 0, 128)
	b = append(b, "{\"stream\":"...)
	b = strconv.AppendBool(b, stream)
	if o.timeout != nil {
		b = appendSeconds(b, "timeout", *o.timeout)
	}
	if o.connectTimeout != nil {
		b = appendSeconds(b, "connect_timeout", *o.connectTimeout)
	}
	if o.lowSpeedTimeout != nil {
		b = appendSeconds(b, "low_speed_timeout", *o.lowSpeedTimeout)
	}
	if o.maxRetries != nil {
		b = append(b, ",\"max_retries\":"...)
		b = strconv.AppendInt(b, int64(*o.maxRetries), 10)
	}
	if len(o.headers) > 0 {
		// the last value of a name wins (names compared case-insensitively), first position kept
		b = append(b, ",\"headers\":{"...)
		seen := make(map[string]int, len(o.headers))
		var names, values []string
		for _, h := range o.headers {
			k := strings.ToLower(h[0])
			if i, ok := seen[k]; ok {
				values[i] = h[1]
				continue
			}
			seen[k] = len(names)
			names = append(names, h[0])
			values = append(values, h[1])
		}
		for i := range names {
			if i > 0 {
				b = append(b, ',')
			}
			kb, _ := json.Marshal(names[i])
			vb, _ := json.Marshal(values[i])
			b = append(b, kb...)
			b = append(b, ':')
			b = append(b, vb...)
		}
		b = append(b, '}')
	}
	return append(b, '}', 0)
}
