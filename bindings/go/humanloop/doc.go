// Package humanloop is the Go binding of libhumanloop, a client for the Humanloop v4 completions
// API: typed requests and responses, typed errors, context cancellation, event streams, and
// every call in flight driven by the library's engine (one thread per client running libcurl's
// multi interface) instead of an OS thread per call.
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
// How a call runs: the request is encoded to JSON and handed to hl_call_start with a callback
// exported from Go; the library validates it, runs it on its engine thread and delivers the
// envelope (or, for a stream, each event) to the callback, which queues it for the goroutine of
// the call. A goroutine waiting for an answer holds no OS thread. When the context is done the
// call is cancelled (hl_call_cancel: the connection is closed within about 100 ms) and returns a
// *CanceledError that wraps ctx.Err().
//
// Linking (cgo): by default the package compiles against the include/ and build/lib/ of the
// repository checkout it sits in (with an rpath to build/lib), then the default system paths
// (/usr/local, where `make install` puts the library). With -tags humanloop_pkgconfig it uses
// `pkg-config humanloop` instead; for a PREFIX outside the dynamic linker's directories, build
// with CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir humanloop)". See README.md.
package humanloop
