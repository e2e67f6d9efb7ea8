package humanloop

// Tests of the delivery path (inside the package: they look at the client's queue).

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/humanloop/libhumanloop/bindings/go/humanloop/humanlooptest"
)

func queueClient(t *testing.T, srv *humanlooptest.Server) *Client {
	t.Helper()
	c, err := NewClient(Config{APIKey: "test-key", Host: srv.BaseURL, RetryBaseDelay: Duration(10 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func queueRequest() *CompletionRequest {
	return &CompletionRequest{
		Project:     "go-tests",
		ModelConfig: ModelConfig{Model: "gpt-test", PromptTemplate: "Say {{what}}"},
		Inputs:      map[string]interface{}{"what": "hello"},
	}
}

// TestNoExportedCallback: the package exports no Go function to C and starts no call with a
// callback (hl_call_start): nothing of Go can run on the library's engine thread.
func TestNoExportedCallback(t *testing.T) {
	files, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		ext := filepath.Ext(f)
		if ext != ".go" && ext != ".c" && ext != ".h" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, bad := range []string{"//" + "export", "hl_call_" + "start", "_cgo_" + "export.h"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", f, bad)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d source files found", checked)
	}
}

// TestDeliveryOnQueueGoroutine: every item reaches its call through the client's queue, handed
// out by the client's dispatcher goroutine (Go code on the stack of dispatcher.run, not a cgo
// callback), waiting on the netpoller; calls and a stream complete.
func TestDeliveryOnQueueGoroutine(t *testing.T) {
	srv := humanlooptest.Start(t)
	var mu sync.Mutex
	var stacks []string
	hook := func() {
		buf := make([]byte, 8192)
		buf = buf[:runtime.Stack(buf, false)]
		mu.Lock()
		stacks = append(stacks, string(buf))
		mu.Unlock()
	}
	testHookDeliver.Store(&hook)
	defer testHookDeliver.Store(nil)
	c := queueClient(t, srv)
	if c.core.queue.blocking.Load() {
		t.Errorf("the dispatcher waits in hl_queue_wait, not on the netpoller")
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Complete(context.Background(), queueRequest()); err != nil {
			t.Fatal(err)
		}
	}
	req := queueRequest()
	req.Stream = true
	s := c.CompleteStream(context.Background(), req)
	n := 0
	for s.Next() {
		n++
	}
	if s.Err() != nil || n != 4 {
		t.Fatalf("stream: %d events, %v", n, s.Err())
	}
	s.Close()
	if got := c.core.queue.items.Load(); got != 3+4+1 {
		t.Errorf("%d items went through the queue, want 8", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stacks) == 0 {
		t.Fatal("the hook never ran")
	}
	var first string
	for _, st := range stacks {
		head := st[:strings.IndexByte(st, '\n')] // "goroutine N [running]:"
		if first == "" {
			first = head
		}
		if head != first || !strings.Contains(st, "humanloop.(*dispatcher).run") || strings.Contains(st, "cgocallback") {
			t.Fatalf("an item was handed out outside the dispatcher goroutine (%s):\n%s", first, st)
		}
	}
}

// TestQueueWaitFallback: the dispatcher that waits in hl_queue_wait (the fallback when the
// descriptor cannot be polled) delivers as well, and Close stops it.
func TestQueueWaitFallback(t *testing.T) {
	srv := humanlooptest.Start(t)
	useQueueWait = true
	c := queueClient(t, srv)
	useQueueWait = false
	if !c.core.queue.blocking.Load() {
		t.Fatal("not waiting in hl_queue_wait")
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Complete(context.Background(), queueRequest()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	srv.Script(t, map[string]interface{}{"stream": map[string]interface{}{"forever": true, "delay": 0.01}})
	req := queueRequest()
	req.Stream = true
	s := c.CompleteStream(context.Background(), req)
	if !s.Next() {
		t.Fatal(s.Err())
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for s.Next() {
	}
	if !errors.Is(s.Err(), ErrClientClosed) {
		t.Errorf("stream after Close: %v", s.Err())
	}
	s.Close()
}

// TestManyConcurrentCalls: 1,000 calls from 100 goroutines and a stream all complete through
// one queue; the goroutine drains in batches.
func TestManyConcurrentCalls(t *testing.T) {
	srv := humanlooptest.Start(t)
	c := queueClient(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 1001)
	for g := 0; g < 100; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				resp, err := c.Complete(context.Background(), queueRequest())
				if err == nil && resp.Output() != "Hello from the test server" {
					err = errors.New("unexpected output " + resp.Output())
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		req := queueRequest()
		req.Stream = true
		s := c.CompleteStream(context.Background(), req)
		defer s.Close()
		n := 0
		for s.Next() {
			n++
		}
		if s.Err() != nil || n != 4 {
			errs <- errors.New("stream failed")
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d := c.core.queue
	if got := d.items.Load(); got != 1000+5 {
		t.Errorf("%d items, want 1005", got)
	}
	d.mu.Lock()
	left := len(d.calls)
	d.mu.Unlock()
	if left != 0 {
		t.Errorf("%d calls still registered", left)
	}
	t.Logf("%d items in %d drains", d.items.Load(), d.batches.Load())
}

// TestStreamPausedWhenBehind: a stream whose consumer stops reading is paused (hl_call_pause)
// instead of piling its events up in Go memory; it resumes when the consumer reads again, and a
// paused stream is cancelled promptly.
func TestStreamPausedWhenBehind(t *testing.T) {
	srv := humanlooptest.Start(t)
	c := queueClient(t, srv)
	big := strings.Repeat("x", 64<<10)
	event := map[string]interface{}{"data": []interface{}{map[string]interface{}{"output": big, "index": 0}}}
	srv.Script(t, map[string]interface{}{"stream": map[string]interface{}{
		"events": []interface{}{event}, "forever": true, "delay": 0}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := queueRequest()
	req.Stream = true
	s := c.CompleteStream(ctx, req)
	defer s.Close()
	if !s.Next() {
		t.Fatal(s.Err())
	}
	if s.Event().Output() != big {
		t.Fatalf("event of %d bytes", len(s.Event().Output()))
	}
	// Not reading: the transfer is paused once more than streamPauseAbove bytes wait.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.p.mu.Lock()
		paused, buffered := s.p.paused, s.p.buffered
		s.p.mu.Unlock()
		if paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not paused with %d bytes waiting", buffered)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // what arrives after the pause took effect
	s.p.mu.Lock()
	buffered := s.p.buffered
	s.p.mu.Unlock()
	if limit := 4 * streamPauseAbove; buffered > limit {
		t.Errorf("%d bytes of events wait while paused (limit %d)", buffered, limit)
	}
	t.Logf("paused with %d bytes waiting", buffered)
	// Reading again resumes the transfer.
	for i := 0; i < 100; i++ {
		if !s.Next() {
			t.Fatalf("after %d events: %v", i, s.Err())
		}
	}
	// A paused stream is cancelled promptly by its context.
	for {
		s.p.mu.Lock()
		paused, pauses := s.p.paused, s.p.pauses
		s.p.mu.Unlock()
		if paused {
			t.Logf("%d pauses", pauses)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	for s.Next() {
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Errorf("%v", s.Err())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the cancelled stream ended after %v", d)
	}
}

// TestCloseDeliversInFlight: Close with calls and streams in flight ends each of them with
// ErrClientClosed (none is lost), and leaves no goroutine of the client behind.
func TestCloseDeliversInFlight(t *testing.T) {
	srv := humanlooptest.Start(t)
	before := runtime.NumGoroutine()
	c, err := NewClient(Config{APIKey: "k", Host: srv.BaseURL})
	if err != nil {
		t.Fatal(err)
	}
	var streams []*Stream // started first: each takes its own scripted answer
	for i := 0; i < 5; i++ {
		srv.Script(t, map[string]interface{}{"stream": map[string]interface{}{"forever": true, "delay": 0.01}})
		req := queueRequest()
		req.Stream = true
		ctx, cancel := context.WithCancel(context.Background()) // a watcher goroutine per stream
		defer cancel()
		s := c.CompleteStream(ctx, req)
		if !s.Next() {
			t.Fatal(s.Err())
		}
		streams = append(streams, s)
	}
	for i := 0; i < 20; i++ {
		srv.Script(t, map[string]interface{}{"delay": 10})
	}
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() { _, err := c.Complete(context.Background(), queueRequest()); errs <- err }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats(t).ConnectionsOpen < 25 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	c.Close()
	for i := 0; i < 20; i++ {
		select {
		case err := <-errs:
			var ce *CanceledError
			if !errors.Is(err, ErrClientClosed) || !errors.As(err, &ce) {
				t.Errorf("call in flight: %T %v", err, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call in flight never returned")
		}
	}
	for _, s := range streams {
		for s.Next() {
		}
		if !errors.Is(s.Err(), ErrClientClosed) {
			t.Errorf("stream in flight: %v", s.Err())
		}
		s.Close()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	deadline = time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before the client, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestCloseWhileDraining: Close right as the dispatcher is handing out the "cancelled" items of
// the calls in flight returns promptly (the stop request is never lost to a drain that resets
// the queue's wake-up), with either way of waiting.
func TestCloseWhileDraining(t *testing.T) {
	srv := humanlooptest.Start(t)
	for _, wait := range []bool{false, true} {
		for i := 0; i < 25; i++ {
			srv.Reset(t)
			for j := 0; j < 10; j++ { // half the calls are still waiting for the server at Close
				srv.Script(t, map[string]interface{}{"delay": 2})
			}
			useQueueWait = wait
			c, err := NewClient(Config{APIKey: "k", Host: srv.BaseURL, MaxRetries: Int(0)})
			useQueueWait = false
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for j := 0; j < 20; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = c.Complete(context.Background(), queueRequest())
				}()
			}
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			done := make(chan struct{})
			go func() { c.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("Close (hl_queue_wait %v) did not return", wait)
			}
			wg.Wait()
		}
	}
}
