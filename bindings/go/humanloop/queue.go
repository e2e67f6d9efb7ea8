package humanloop

// #include <stdint.h>
// #include <stdlib.h>
// #include "humanloop.h"
//
// // The tag of a call is an integer id (never a Go pointer): it is converted here, in C.
// static hl_call *hlgo_submit(hl_client *client, const char *name, const char *request_json,
//                             const char *options_json, hl_queue *queue, uintptr_t tag) {
//     return hl_call_submit(client, name, request_json, options_json, queue, (void *)tag);
// }
import "C"

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The kinds of the library's items (hl_item.kind).
const (
	itemEvent  = C.HL_ITEM_EVENT  // one stream event
	itemResult = C.HL_ITEM_RESULT // the call's terminal item
)

// drainBatch is the number of items one hl_queue_drain takes (one cgo crossing per batch).
const drainBatch = 256

// streamPauseAbove: a stream whose undelivered events (taken from the queue, not yet taken by
// its consumer) exceed this many bytes is paused with hl_call_pause until its consumer takes
// them (see pending.deliver).
const streamPauseAbove = 1 << 20

// item is one item of a call, copied out of the library's memory.
type item struct {
	kind int    // itemEvent or itemResult
	json []byte // the item's JSON (the library's envelope or stream item)
}

// cancelledByClose is the terminal item given to a call whose own terminal item never came
// because its client was closed (the library delivers one in hl_client_free; this is a guard,
// so that no call waits forever).
var cancelledByClose = []byte(`{"ok":false,"error":{"type":"cancelled","message":"the client was closed"},"attempts":0}`)

// dispatcher is the completion queue of one client and the one goroutine that empties it.
//
// The library's engine thread runs the client's calls and puts their items on the queue
// (hl_call_submit); no Go code runs on that thread. The dispatcher goroutine waits until the
// queue's eventfd is readable (through Go's netpoller: no OS thread is blocked while it waits),
// drains it in batches of drainBatch items (one cgo crossing per batch), copies each item's JSON
// into Go memory and hands the item to its call (found by the integer tag the call was
// submitted with) without ever blocking. The calls' goroutines take their items from there.
//
// The dispatcher holds no reference to the Client or its core, so that an unreachable client
// can still be finalized (the finalizer closes the dispatcher).
type dispatcher struct {
	q    *C.hl_queue
	buf  *C.hl_item    // drainBatch items, C memory, used by the dispatcher goroutine only
	done chan struct{} // closed when the goroutine has returned

	stopping atomic.Bool // set by close: drain what is left, then return

	mu    sync.Mutex
	calls map[uintptr]*pending // the calls in flight by tag, until their terminal item
	next  uintptr              // the last tag given

	// Statistics, read by the tests.
	batches, items atomic.Int64
	blocking       atomic.Bool // the goroutine waits in hl_queue_wait (no netpoller)
}

// useQueueWait makes new dispatchers wait in hl_queue_wait (a cgo call that blocks an OS thread)
// instead of on the netpoller. The netpoller is the default; this is the fallback when the
// queue's descriptor cannot be polled, and lets the tests exercise that path.
var useQueueWait = false

// testHookDeliver, when set (tests only), runs on the goroutine that hands items to calls,
// once per drained batch.
var testHookDeliver atomic.Pointer[func()]

// newDispatcher creates the queue and starts its goroutine.
func newDispatcher() (*dispatcher, error) {
	q := C.hl_queue_new(nil)
	if q == nil {
		return nil, errors.New("humanloop: hl_queue_new failed (out of memory or of file descriptors)")
	}
	d := &dispatcher{
		q:     q,
		buf:   (*C.hl_item)(C.calloc(drainBatch, C.size_t(unsafe.Sizeof(C.hl_item{})))),
		done:  make(chan struct{}),
		calls: make(map[uintptr]*pending),
	}
	if d.buf == nil {
		C.hl_queue_free(q)
		return nil, errors.New("humanloop: out of memory")
	}
	var raw syscall.RawConn
	var file *os.File
	if !useQueueWait {
		// A duplicate of the eventfd (never read or written: it only tells the netpoller when
		// the queue becomes non-empty), so that closing the os.File leaves the library's own.
		// The duplicate shares the original's open file description, hence its O_NONBLOCK,
		// which makes os.NewFile register it with the netpoller.
		if fd, err := dupCloexec(int(C.hl_queue_fd(q))); err == nil {
			file = os.NewFile(uintptr(fd), "hl_queue")
			if raw, err = file.SyscallConn(); err != nil {
				file.Close()
				file, raw = nil, nil
			}
		}
	}
	d.blocking.Store(raw == nil)
	go d.run(file, raw)
	return d, nil
}

func dupCloexec(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// run is the dispatcher goroutine.
func (d *dispatcher) run(file *os.File, raw syscall.RawConn) {
	defer close(d.done)
	if raw != nil {
		// RawConn.Read calls the function, and while it returns false waits until the
		// descriptor is readable (edge-triggered), then calls it again. The function drains
		// until the queue is empty (which resets the eventfd), as an edge-triggered consumer
		// must, so that no signal is missed between the drain and the wait.
		err := raw.Read(func(uintptr) bool { return d.drainAndCheckStop() })
		file.Close()
		if err == nil {
			return
		}
		// The descriptor cannot be polled after all (the runtime said so at the first wait):
		// wait in the library instead.
		d.blocking.Store(true)
	}
	for !d.drainAndCheckStop() {
		C.hl_queue_wait(d.q, -1) // ended early by an item or by hl_queue_wake (close)
	}
}

// drainAndCheckStop drains the queue, then reports whether close asked the goroutine to stop
// (after a last drain). The flag is read after the drain, not before: a drain consumes the
// signal of an hl_queue_wake that came before it (it resets the eventfd and the wake flag of
// hl_queue_wait when it leaves the queue empty), so a close that was not seen here woke the
// queue after this drain, and the wait that follows returns at once. close sets the flag
// after hl_client_free returned, so the last drain takes every item the engine queued.
func (d *dispatcher) drainAndCheckStop() bool {
	d.drainAll()
	if !d.stopping.Load() {
		return false
	}
	d.drainAll()
	return true
}

// drainAll takes every pending item and hands each to its call, until the queue is empty.
func (d *dispatcher) drainAll() {
	items := unsafe.Slice(d.buf, drainBatch)
	type routed struct {
		p    *pending
		call *C.hl_call
		it   item
	}
	var batch [drainBatch]routed
	for {
		n := int(C.hl_queue_drain(d.q, d.buf, drainBatch))
		if n == 0 {
			return
		}
		if hook := testHookDeliver.Load(); hook != nil {
			(*hook)()
		}
		d.batches.Add(1)
		d.items.Add(int64(n))
		// Copy the items out first: their memory is valid only until the next drain.
		for i := 0; i < n; i++ {
			ci := &items[i]
			b := make([]byte, int(ci.len))
			if ci.json != nil {
				copy(b, unsafe.Slice((*byte)(unsafe.Pointer(ci.json)), int(ci.len)))
			}
			batch[i] = routed{call: ci.call, it: item{kind: int(ci.kind), json: b}}
		}
		d.mu.Lock()
		for i := 0; i < n; i++ {
			tag := uintptr(items[i].tag) // an integer id carried as a void *, never dereferenced
			batch[i].p = d.calls[tag]
			if batch[i].it.kind == itemResult {
				delete(d.calls, tag) // the terminal item: nothing more comes for this tag
			}
		}
		d.mu.Unlock()
		for i := 0; i < n; i++ {
			if p := batch[i].p; p != nil { // nil: the call was released meanwhile (its items are moot)
				p.deliver(batch[i].it, batch[i].call)
			}
			batch[i] = routed{}
		}
	}
}

// register gives p a tag and records it; its items are routed to it until its terminal item or
// forget.
func (d *dispatcher) register(p *pending) uintptr {
	d.mu.Lock()
	d.next++
	tag := d.next
	d.calls[tag] = p
	d.mu.Unlock()
	p.d, p.tag = d, tag
	return tag
}

// submit starts a call of client with its items going to the queue, tagged with tag.
func (d *dispatcher) submit(client *C.hl_client, name, request, options *C.char, tag uintptr) *C.hl_call {
	return C.hlgo_submit(client, name, request, options, d.q, C.uintptr_t(tag))
}

// forget stops routing items to the call of tag (its handle was released).
func (d *dispatcher) forget(tag uintptr) {
	d.mu.Lock()
	delete(d.calls, tag)
	d.mu.Unlock()
}

// close stops the goroutine once every item queued so far is handed out, gives a "cancelled"
// terminal item to any call still waiting, and frees the queue. The client must be freed first
// (hl_client_free delivers the "cancelled" items of its calls in flight before it returns), so
// that nothing is submitted or delivered any more.
func (d *dispatcher) close() {
	d.stopping.Store(true)
	C.hl_queue_wake(d.q) // makes the descriptor readable / ends hl_queue_wait
	<-d.done
	d.mu.Lock()
	left := d.calls
	d.calls = make(map[uintptr]*pending)
	d.mu.Unlock()
	for _, p := range left {
		p.deliver(item{kind: itemResult, json: cancelledByClose}, nil)
	}
	// The consumer has returned: nobody is inside hl_queue_drain or hl_queue_wait.
	C.hl_queue_free(d.q)
	C.free(unsafe.Pointer(d.buf))
	d.q, d.buf = nil, nil
}
