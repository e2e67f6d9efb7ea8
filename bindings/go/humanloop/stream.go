package humanloop

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"time"
)

// StreamEvent is one server event of a stream.
type StreamEvent struct {
	Chunk CompletionResponse // the event decoded (one generation's new text in Chunk.Data[0].Output)
	Raw   json.RawMessage    // the event's JSON exactly as the server sent it
}

// Output returns the new text of the event (data[0].output).
func (e StreamEvent) Output() string { return e.Chunk.Output() }

// StreamResult describes a stream that ended cleanly.
type StreamResult struct {
	Status        int
	Headers       http.Header
	RoundTripTime time.Duration
	Attempts      int
	Events        int // events received
}

// Stream is an open event stream, fed by the library's engine through the client's queue (no
// thread is held while it waits). Use it from one goroutine:
//
//	s := client.CompleteStream(ctx, req)
//	defer s.Close()
//	for s.Next() {
//		fmt.Print(s.Event().Output())
//	}
//	if err := s.Err(); err != nil { ... }
//
// Cancelling ctx stops the transfer at once (also while nobody calls Next); Next then returns
// false and Err a *CanceledError wrapping the context's error.
type Stream struct {
	client  *Client // keeps the client (and its engine) alive while the stream is used
	ctx     context.Context
	name    string
	p       *pending
	stop    chan struct{} // closed to end the context watcher
	queue   []item        // items taken from p, not yet read
	spare   []item
	event   StreamEvent
	err     error
	result  *StreamResult
	status  int
	headers http.Header
	ended   bool // the terminal item was seen, or Close/an error ended the stream
	started bool
}

// CallStream starts the streaming call `name` with any JSON-encodable request (see Call). The
// request should have "stream": true (the typed CompleteStream methods set it).
func (c *Client) CallStream(ctx context.Context, name string, request interface{}, opts ...CallOption) *Stream {
	s := &Stream{client: c, ctx: ctx, name: name}
	if err := ctx.Err(); err != nil {
		s.err, s.ended = canceledBeforeStart(name, err), true
		return s
	}
	p, err := c.start(name, request, opts, true)
	if err != nil {
		s.err, s.ended = err, true
		return s
	}
	s.p, s.started = p, true
	if done := ctx.Done(); done != nil {
		s.stop = make(chan struct{})
		go func(stop chan struct{}) { // refers to p only, so that an abandoned Stream can be finalized
			select {
			case <-done:
				p.cancel()
			case <-stop:
			}
		}(s.stop)
	}
	runtime.SetFinalizer(s, (*Stream).Close)
	return s
}

// Next waits for the next event and reports whether there is one (then read it with Event).
// It returns false at the end of the stream or on an error (see Err).
func (s *Stream) Next() bool {
	for !s.ended {
		if len(s.queue) == 0 {
			s.spare = s.queue[:0]
			s.queue = s.p.take(s.spare)
		}
		if len(s.queue) > 0 {
			it := s.queue[0]
			s.queue[0] = item{}
			s.queue = s.queue[1:]
			item := it.json
			if it.kind == itemEvent {
				if err := s.ctx.Err(); err != nil {
					s.cancelAndEnd(err)
					return false
				}
				var env wireEnvelope
				if err := decodeWireEnvelope(item, &env); err != nil || len(env.Event) == 0 {
					s.finish(&InvalidResponseError{Status: 200, Body: string(item), Message: "the library returned an unreadable stream item"})
					return false
				}
				if env.Status != 0 { // the first event carries the answer's status and headers
					s.status, s.headers = env.Status, toHeader(env.Headers)
				}
				s.event = StreamEvent{Raw: env.Event}
				if err := decodeCompletionResponse(env.Event, &s.event.Chunk); err != nil {
					s.finish(&InvalidResponseError{Status: s.status, Body: string(env.Event),
						Message: "a stream event is not a CompletionResponse chunk: " + err.Error()})
					return false
				}
				return true
			}
			s.terminal(item)
			return false
		}
		select {
		case <-s.p.notify:
		case <-s.ctx.Done():
			s.cancelAndEnd(s.ctx.Err())
			return false
		}
	}
	return false
}

// cancelAndEnd cancels the transfer, waits (bounded) for the library to confirm, and ends the
// stream with a *CanceledError wrapping cause.
func (s *Stream) cancelAndEnd(cause error) {
	s.p.cancel()
	attempts := 0
	deadline := time.NewTimer(cancelGrace)
	defer deadline.Stop()
	items := s.queue // items already taken may hold the terminal item
	s.queue = nil
	for {
		items = append(items, s.p.take(nil)...)
		for _, it := range items {
			if it.kind == itemResult {
				var env wireEnvelope
				if decodeWireEnvelope(it.json, &env) == nil {
					attempts = env.Attempts
				}
				s.finish(&CanceledError{Cause: cause, Message: s.name + " stream cancelled", Attempts: attempts})
				return
			}
		}
		items = items[:0]
		select {
		case <-s.p.notify:
		case <-deadline.C:
			s.finish(&CanceledError{Cause: cause, Message: s.name + " stream cancelled"})
			return
		}
	}
}

// terminal handles the last item of the stream.
func (s *Stream) terminal(item []byte) {
	var env wireEnvelope
	if err := decodeWireEnvelope(item, &env); err != nil {
		s.finish(&InvalidResponseError{Message: "the library returned unreadable JSON: " + err.Error(), Body: string(item)})
		return
	}
	if !env.OK {
		var cause error
		if err := s.ctx.Err(); err != nil {
			cause = err
		} else {
			cause = ErrClientClosed // the only other source of "cancelled" for a stream of ours
		}
		s.finish(errorFromWire(env.Error, env.Attempts, cause))
		return
	}
	var n int
	_ = json.Unmarshal(env.Events, &n)
	s.status, s.headers = env.Status, toHeader(env.Headers)
	s.result = &StreamResult{Status: env.Status, Headers: toHeader(env.Headers),
		RoundTripTime: seconds(env.RoundTripTime), Attempts: env.Attempts, Events: n}
	s.finish(nil)
}

func (s *Stream) finish(err error) {
	s.err = err
	s.ended = true
	s.release()
}

func (s *Stream) release() {
	if !s.started {
		return
	}
	s.started = false
	if s.stop != nil {
		close(s.stop)
	}
	s.p.free() // no item of the call is handed out after this
	s.queue = nil
	runtime.SetFinalizer(s, nil)
}

// Event returns the event Next has just read.
func (s *Stream) Event() StreamEvent { return s.event }

// Err returns the error that ended the stream, nil after a clean end (or before it).
func (s *Stream) Err() error { return s.err }

// Status returns the answer's HTTP status once known (from the first event on), else 0.
func (s *Stream) Status() int { return s.status }

// Headers returns the answer's headers once known (from the first event on), else nil.
func (s *Stream) Headers() http.Header { return s.headers }

// Result returns the status, headers and counts of a stream that ended cleanly, else nil.
func (s *Stream) Result() *StreamResult { return s.result }

// Close stops the stream if it is still running (the connection is closed) and releases it.
// Idempotent; always call it (defer s.Close()).
func (s *Stream) Close() error {
	s.ended = true
	s.release()
	return nil
}
