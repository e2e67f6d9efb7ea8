package humanloop

// #include <stdint.h>
// #include <stdlib.h>
// #include "humanloop.h"
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
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

// pending is one call in flight: the items the dispatcher handed to it and the state of its
// hl_call handle. The dispatcher goroutine appends and signals (never blocking); the call's own
// goroutine takes the items. The handle is released exactly once: by the dispatcher with the
// terminal item, or by the call's goroutine (free) when it gives up on the call before that.
type pending struct {
	mu       sync.Mutex
	items    []item
	notify   chan struct{} // capacity 1: "items may be non-empty"
	call     *C.hl_call    // set once hl_call_submit has returned (or by the first item)
	freed    bool          // the handle was released: no C function may be called on it
	buffered int           // bytes of events in items (streams)
	paused   bool          // the dispatcher paused the transfer (hl_call_pause) until a take
	pauses   int           // how many times (tests)

	d   *dispatcher
	tag uintptr
}

// newPending returns a call not yet submitted.
func newPending() *pending {
	return &pending{notify: make(chan struct{}, 1)}
}

// deliver queues one item for the call's goroutine and wakes it. It runs on the dispatcher
// goroutine and never blocks: a stream whose consumer falls behind (more than
// streamPauseAbove bytes of events not taken yet) is paused with hl_call_pause, and resumed by
// the consumer's next take. The client's queue itself is always drained, so one slow stream
// never holds up the other calls of the client.
func (p *pending) deliver(it item, call *C.hl_call) {
	p.mu.Lock()
	p.items = append(p.items, it)
	if it.kind == itemEvent {
		p.buffered += len(it.json)
		if p.call == nil {
			p.call = call
		}
		if p.buffered > streamPauseAbove && !p.paused && !p.freed && p.call != nil {
			p.paused = true
			p.pauses++
			C.hl_call_pause(p.call, 1)
		}
	}
	var release *C.hl_call
	if it.kind == itemResult && !p.freed {
		// The terminal item: nothing more comes, so the handle is released here, on this one
		// goroutine, rather than by a cgo call from each caller's goroutine.
		if p.call == nil {
			p.call = call
		}
		release, p.freed = p.call, true
	}
	p.mu.Unlock()
	if release != nil {
		C.hl_call_free(release)
	}
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// take returns the items delivered so far and empties the list (resuming a paused transfer).
func (p *pending) take(buf []item) []item {
	p.mu.Lock()
	items := p.items
	p.items = buf[:0]
	p.buffered = 0
	if p.paused {
		p.paused = false
		if !p.freed {
			C.hl_call_pause(p.call, 0)
		}
	}
	p.mu.Unlock()
	return items
}

// started records the handle hl_call_submit returned.
func (p *pending) started(call *C.hl_call) {
	p.mu.Lock()
	p.call = call
	p.mu.Unlock()
}

// cancel cancels the call if its handle is still held (no effect once the terminal item is on
// its way: that item stands).
func (p *pending) cancel() {
	p.mu.Lock()
	if !p.freed && p.call != nil {
		C.hl_call_cancel(p.call)
	}
	p.mu.Unlock()
}

// free releases the handle unless the terminal item did (idempotent): an unfinished call is
// cancelled and delivers nothing more; items already taken from the queue are dropped.
func (p *pending) free() {
	p.mu.Lock()
	call := p.call
	already := p.freed
	p.freed = true
	p.items = nil
	p.mu.Unlock()
	if already {
		return // the dispatcher released it with the terminal item (and forgot the tag)
	}
	if call != nil {
		C.hl_call_free(call)
	}
	p.d.forget(p.tag)
}

// result returns the call's terminal item among items, or nil.
func result(items []item) []byte {
	for i := len(items) - 1; i >= 0; i-- {
		if items[i].kind == itemResult {
			return items[i].json
		}
	}
	return nil
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

// start submits a call to the client's engine, its items going to the client's queue; the
// returned call must be released with p.free() once its terminal item is taken (or given up on).
func (c *Client) start(name string, request interface{}, opts []CallOption, stream bool) (*pending, error) {
	body, err := encodeRequest(request)
	if err != nil {
		return nil, err
	}
	optJSON := optionsJSON(c.defaults, opts, stream)
	nameC := append(make([]byte, 0, len(name)+1), name...)
	nameC = append(nameC, 0)
	var optPtr *C.char
	if optJSON != nil {
		optPtr = (*C.char)(unsafe.Pointer(&optJSON[0]))
	}
	p := newPending()
	co := c.core
	co.mu.RLock()
	if co.native == nil {
		co.mu.RUnlock()
		return nil, &CanceledError{Cause: ErrClientClosed, Message: name + " not started"}
	}
	tag := co.queue.register(p) // before the submission: the first item may come at once
	// The strings are Go memory without pointers, read only during the call (never kept).
	call := co.queue.submit(co.native, (*C.char)(unsafe.Pointer(&nameC[0])), (*C.char)(unsafe.Pointer(&body[0])),
		optPtr, tag)
	if call != nil {
		p.started(call) // before Close can run: its items may name no handle
	}
	co.mu.RUnlock()
	if call == nil {
		co.queue.forget(tag)
		return nil, errors.New("humanloop: hl_call_submit failed (out of memory)")
	}
	return p, nil
}

// Call makes the call `name` (CallComplete, ...) with any JSON-encodable request: a typed
// request, a map, or the body's JSON as json.RawMessage, []byte or string. The escape hatch for
// fields the typed requests do not have.
func (c *Client) Call(ctx context.Context, name string, request interface{}, opts ...CallOption) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, canceledBeforeStart(name, err)
	}
	p, err := c.start(name, request, opts, false)
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
	item := result(p.take(nil))
	p.free()
	runtime.KeepAlive(c) // the client is not finalized (closed) while a call of it waits
	if cause == nil {
		cause = ErrClientClosed // the only other source of "cancelled" for a call of ours
	}
	if item == nil { // only when the library did not confirm the cancellation in time
		return nil, &CanceledError{Cause: cause, Message: name + " cancelled"}
	}
	return decodeEnvelope(item, cause)
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
