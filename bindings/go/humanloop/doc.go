// Package humanloop is the Go binding of libhumanloop, a client for the Humanloop v4 completions
// API: typed requests and responses, typed errors, context cancellation, event streams, and
// every call in flight driven by the library's engine (one thread per client running libcurl's
// multi interface) instead of an OS thread per call, its results reaching Go through a
// completion queue.
//
//	client, err := humanloop.NewClient(humanloop.Config{APIKey: "..."}) // or NewClientFromEnv()
//	if err != nil { ... }
//	defer client.Close()
//	resp, err := client.Complete(ctx, &humanloop.CompletionRequest{
//		Project:     "demo",
//		ModelConfig: humanloop.ModelConfig{Model: "gpt-3.5-turbo-instruct", PromptTemplate: "{{q}}",
//			Temperature: humanloop.Float(0.7)},
//		Inputs:      map[string]interface{}{"q": "Hi"},
//	}, humanloop.WithTimeout(30*time.Second))
//	var apiErr *humanloop.APIError
//	switch {
//	case err == nil:                       fmt.Println(resp.Output(), resp.Status, resp.Attempts)
//	case errors.As(err, &apiErr):          fmt.Println(apiErr.Status, apiErr.BodyText())
//	case errors.Is(err, context.Canceled): // ctx was cancelled: the transfer was stopped
//	}
//
// How a call runs: the request is encoded to JSON and submitted with hl_call_submit to the
// client's engine (a thread of the library running libcurl's multi interface) with the client's
// completion queue (hl_queue) and an integer tag. The library validates it (a validation error
// is the call's result like any other) and runs it on the engine thread, which puts the call's
// items on the queue: no Go code ever runs on that thread. The threads and goroutines:
//
//   - the engine thread (the library's, one per client) does the I/O and parsing and queues
//     each item: a stream's events (HL_ITEM_EVENT), then the call's terminal item (HL_ITEM_RESULT);
//   - the client's dispatcher goroutine (one per client) waits until the queue's eventfd is
//     readable, through Go's netpoller (no OS thread blocked while it waits), drains up to 256
//     items per cgo crossing, copies each out of C memory and hands it to its call by tag
//     without ever blocking;
//   - the goroutine of each call (Complete, a Stream's Next) waits on its own channel and
//     decodes its items. A goroutine waiting for an answer holds no OS thread. The dispatcher
//     releases the call handle (hl_call_free) with the terminal item; a goroutine that gives up
//     on its call first (cancellation not confirmed in time, a Stream closed early) releases it;
//   - a stream with a context that can be done has a small watcher goroutine that cancels the
//     transfer when the context is done, also while nobody calls Next.
//
// When the context is done the call is cancelled (hl_call_cancel: the connection is closed within
// about 100 ms) and returns a *CanceledError that wraps ctx.Err(). A stream whose consumer falls
// behind by more than 1 MiB of events is paused (hl_call_pause) until the consumer takes them,
// so one slow consumer neither grows memory nor holds up the client's other calls. Client.Close
// frees the client (the engine delivers "cancelled" to every call in flight, which then returns
// a *CanceledError wrapping ErrClientClosed), then stops the dispatcher goroutine once it has
// handed everything out, and frees the queue.
//
// Linking (cgo): by default the package compiles against the include/ and build/lib/ of the
// repository checkout it sits in (with an rpath to build/lib), then the default system paths
// (/usr/local, where `make install` puts the library). With -tags humanloop_pkgconfig it uses
// `pkg-config humanloop` instead; for a PREFIX outside the dynamic linker's directories, build
// with CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir humanloop)". See README.md.
package humanloop
