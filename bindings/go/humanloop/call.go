package humanloop

// #include <stdint.h>
// #include <stdlib.h>
// #include "humanloop.h"
// hl_call *hlgo_start(hl_client *client, const char *name, const char *request_json,
//                     const char *options_json, uintptr_t handle);
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// The call names of Client.Call and Client.CallStream.
const (
	CallComplete                   = "complete"
	CallCompleteDeployed           = "complete_deployed"
	CallCompleteExperiment         = "complete_experiment"
	CallCompleteModelConfiguration = "complete_model_configuration"
)

// cancelGrace bounds the wait for the "cancelled" item after hl_call_cancel (the library
// promises it within about 100 ms); past it the call is released with hl_call_free anyway.
const cancelGrace = 5 * time.Second

// ---- per-call options -------------------------------------------------------------------------

// CallOption sets an option of one call (or, through Client.WithOptions, of every call).
type CallOption func(*callOptions)

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

// ---- the engine callback ----------------------------------------------------------------------

// pending is one call in flight: the items the engine delivered and the state of its hl_call
// handle. The callback (engine thread) appends and signals; the call's goroutine takes them.
type pending struct {
	mu     sync.Mutex
	items  [][]byte
	notify chan struct{} // capacity 1: "items may be non-empty"
	stream bool          // items before the terminal one are events
	call   *C.hl_call    // set once hl_call_start has returned (while the call is live)
	state  int           // live, or who released the handle
}

const (
	live           = iota
	freedByLibrary // the callback of the terminal item frees the handle (in bridge.c)
	freedByGo      // Go freed it (Close of an unfinished stream, or a lost cancellation)
)

func newPending(stream bool) *pending {
	return &pending{notify: make(chan struct{}, 1), stream: stream}
}

// take returns the items delivered so far and empties the queue.
func (p *pending) take(buf [][]byte) [][]byte {
	p.mu.Lock()
	items := p.items
	p.items = buf[:0]
	p.mu.Unlock()
	return items
}

// started records the handle hl_call_start returned (unless the terminal item already came and
// the callback released it).
func (p *pending) started(call *C.hl_call) {
	p.mu.Lock()
	if p.state == live {
		p.call = call
	}
	p.mu.Unlock()
}

// cancel cancels the call if it is still live.
func (p *pending) cancel() {
	p.mu.Lock()
	if p.state == live && p.call != nil {
		C.hl_call_cancel(p.call)
	}
	p.mu.Unlock()
}

// free releases a live call (no callback runs once it returns).
func (p *pending) free() {
	p.mu.Lock()
	call := p.call
	if p.state != live {
		call = nil
	} else {
		p.state = freedByGo
	}
	p.mu.Unlock()
	if call != nil {
		C.hl_call_free(call)
	}
}

//export hlgoCallback
func hlgoCallback(call *C.hl_call, item *C.char, length C.size_t, handle C.uintptr_t) C.int {
	// Runs on the library's engine thread: copy the item (the C trampoline frees it), queue it
	// and return at once; the call's goroutine does the rest. For the terminal item it returns
	// 1 and the trampoline frees the handle right there (hl_call_free from another thread
	// would wait for this callback to return).
	p := cgo.Handle(uintptr(handle)).Value().(*pending)
	b := C.GoBytes(unsafe.Pointer(item), C.int(length))
	terminal := !p.stream || !bytes.HasPrefix(b, eventPrefix)
	var free C.int
	p.mu.Lock()
	p.items = append(p.items, b)
	if terminal && p.state == live {
		p.state = freedByLibrary
		free = 1
	}
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
	return free
}

// encodeRequest returns the request as NUL-terminated JSON.
func encodeRequest(request interface{}) ([]byte, error) {
	b, typed, err := encodeTyped(request)
	if err != nil {
		return nil, &ValidationError{Type: "invalid_request", Message: "the request cannot be encoded as JSON: " + err.Error(),
			Problems: []Problem{{Message: err.Error()}}}
	}
	switch r := request.(type) {
	case json.RawMessage:
		b = append(make([]byte, 0, len(r)+1), r...)
	case []byte:
		b = append(make([]byte, 0, len(r)+1), r...)
	case string:
		b = append(make([]byte, 0, len(r)+1), r...)
	default:
		if typed {
			break
		}
		if b, err = json.Marshal(request); err != nil {
			return nil, &ValidationError{Type: "invalid_request", Message: "the request cannot be encoded as JSON: " + err.Error(),
				Problems: []Problem{{Message: err.Error()}}}
		}
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, &ValidationError{Type: "invalid_request", Message: "the request JSON contains a NUL byte",
			Problems: []Problem{{Message: "the request JSON contains a NUL byte"}}}
	}
	return append(b, 0), nil
}

// start starts a call on the engine; the returned handle must be deleted once the call is
// released (its terminal item taken, or p.free()).
func (c *Client) start(name string, request interface{}, opts []CallOption, stream bool) (*pending, cgo.Handle, error) {
	body, err := encodeRequest(request)
	if err != nil {
		return nil, 0, err
	}
	optJSON := optionsJSON(c.defaults, opts, stream)
	nameC := append(make([]byte, 0, len(name)+1), name...)
	nameC = append(nameC, 0)
	var optPtr *C.char
	if optJSON != nil {
		optPtr = (*C.char)(unsafe.Pointer(&optJSON[0]))
	}
	p := newPending(stream)
	h := cgo.NewHandle(p)
	co := c.core
	co.mu.RLock()
	if co.native == nil {
		co.mu.RUnlock()
		h.Delete()
		return nil, 0, &CanceledError{Cause: ErrClientClosed, Message: name + " not started"}
	}
	// The strings are Go memory without pointers, read only during the call (never kept).
	call := C.hlgo_start(co.native, (*C.char)(unsafe.Pointer(&nameC[0])), (*C.char)(unsafe.Pointer(&body[0])),
		optPtr, C.uintptr_t(h))
	co.mu.RUnlock()
	if call == nil {
		h.Delete()
		return nil, 0, errors.New("humanloop: hl_call_start failed (out of memory)")
	}
	p.started(call)
	return p, h, nil
}

// Call makes the call `name` (CallComplete, ...) with any JSON-encodable request: a typed
// request, a map, or the body's JSON as json.RawMessage, []byte or string. The escape hatch for
// fields the typed requests do not have.
func (c *Client) Call(ctx context.Context, name string, request interface{}, opts ...CallOption) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, canceledBeforeStart(name, err)
	}
	p, h, err := c.start(name, request, opts, false)
	if err != nil {
		return nil, err
	}
	var cause error
	select {
	case <-p.notify:
	case <-ctx.Done():
		cause = ctx.Err()
		p.cancel()
		t := time.NewTimer(cancelGrace)
		select {
		case <-p.notify:
		case <-t.C:
		}
		t.Stop()
	}
	p.free() // a no-op after the terminal item (the callback released the call)
	h.Delete()
	if cause == nil {
		cause = ErrClientClosed // the only other source of "cancelled" for a call of ours
	}
	items := p.take(nil)
	if len(items) == 0 { // only when the library did not confirm the cancellation in time
		return nil, &CanceledError{Cause: cause, Message: name + " cancelled"}
	}
	return decodeEnvelope(items[len(items)-1], cause)
}

// wireEnvelope is any item the library returns: an envelope or a stream item.
type wireEnvelope struct {
	OK            bool              `json:"ok"`
	Status        int               `json:"status"`
	Headers       map[string]string `json:"headers"`
	Body          json.RawMessage   `json:"body"`
	RoundTripTime float64           `json:"round_trip_time"`
	Attempts      int               `json:"attempts"`
	Timings       *wireTimings      `json:"timings"`
	Events        json.RawMessage   `json:"events"` // an array (merged envelope) or a count (stream end)
	Error         json.RawMessage   `json:"error"`
	Event         json.RawMessage   `json:"event"`
	Done          bool              `json:"done"`
}

// decodeEnvelope turns a library envelope into a Response or an error. cause: why a "cancelled"
// error would have happened.
func decodeEnvelope(item []byte, cause error) (*Response, error) {
	var env wireEnvelope
	if err := decodeWireEnvelope(item, &env); err != nil {
		return nil, &InvalidResponseError{Message: "the library returned unreadable JSON: " + err.Error(), Body: string(item)}
	}
	if !env.OK {
		if len(env.Error) == 0 {
			return nil, &InvalidResponseError{Message: "the library returned an error without details", Body: string(item)}
		}
		return nil, errorFromWire(env.Error, env.Attempts, cause)
	}
	r := &Response{Status: env.Status, Headers: toHeader(env.Headers), RawBody: env.Body,
		RoundTripTime: seconds(env.RoundTripTime), Attempts: env.Attempts}
	if t := env.Timings; t != nil {
		r.Timings = Timings{NameLookup: seconds(t.NameLookup), Connect: seconds(t.Connect), TLS: seconds(t.TLS),
			PreTransfer: seconds(t.PreTransfer), StartTransfer: seconds(t.StartTransfer), Total: seconds(t.Total)}
	}
	if len(env.Events) > 0 && env.Events[0] == '[' {
		if err := json.Unmarshal(env.Events, &r.Events); err != nil {
			return nil, &InvalidResponseError{Status: env.Status, Message: "unreadable events: " + err.Error(), Attempts: env.Attempts}
		}
	}
	if err := decodeCompletionResponse(env.Body, &r.Body); err != nil {
		return nil, &InvalidResponseError{Status: env.Status, Body: string(env.Body), Attempts: env.Attempts,
			Message: "the server answered " + strconv.Itoa(env.Status) + " with a body that is not a CompletionResponse: " + err.Error()}
	}
	return r, nil
}
