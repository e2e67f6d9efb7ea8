package humanloop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/humanloop/libhumanloop/bindings/go/humanloop"
)

func newClient(t testing.TB, srv *testServer, cfg humanloop.Config) *humanloop.Client {
	t.Helper()
	cfg.Host = srv.BaseURL
	if cfg.APIKey == "" {
		cfg.APIKey = "test-key"
	}
	if cfg.RetryBaseDelay == nil {
		cfg.RetryBaseDelay = humanloop.Duration(10 * time.Millisecond)
	}
	c, err := humanloop.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func request() *humanloop.CompletionRequest {
	return &humanloop.CompletionRequest{
		Project:     "go-tests",
		ModelConfig: humanloop.ModelConfig{Model: "gpt-test", PromptTemplate: "Say {{what}}", Temperature: humanloop.Float(0.7)},
		Inputs:      map[string]interface{}{"what": "hello"},
	}
}

func TestNilRequest(t *testing.T) {
	c := newClient(t, shared, humanloop.Config{})
	var ve *humanloop.ValidationError
	if _, err := c.Complete(context.Background(), nil); !errors.As(err, &ve) {
		t.Errorf("%v", err)
	}
	if s := c.CompleteStream(context.Background(), nil); s.Next() || !errors.As(s.Err(), &ve) {
		t.Errorf("%v", s.Err())
	}
}

func TestVersion(t *testing.T) {
	if v := humanloop.Version(); !strings.HasPrefix(v, "0.") {
		t.Fatalf("Version() = %q", v)
	}
}

func TestComplete(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	resp, err := c.Complete(context.Background(), request())
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Status != 200 || resp.Attempts != 1 || resp.RoundTripTime <= 0 || resp.Timings.Total <= 0 {
		t.Errorf("status %d attempts %d rtt %v timings %+v", resp.Status, resp.Attempts, resp.RoundTripTime, resp.Timings)
	}
	if got := resp.Headers.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if resp.Output() != "Hello from the test server" || resp.Body.Data[0].ID != "data_0" ||
		resp.Body.Data[0].FinishReason != "stop" || resp.Body.Data[0].Inputs["what"] != "hello" {
		t.Errorf("body %+v", resp.Body)
	}
	if resp.Body.Usage == nil || resp.Body.Usage.GenerationTokens != 6 || resp.Body.ProjectID != "pr_test" {
		t.Errorf("usage/project %+v %q", resp.Body.Usage, resp.Body.ProjectID)
	}
	if !json.Valid(resp.RawBody) || !strings.HasPrefix(string(resp.RawBody), `{"data":[{"id":"data_0"`) {
		t.Errorf("raw body %s", resp.RawBody)
	}
	reqs := shared.Requests(t)
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v4/completion" || r.Header("X-API-KEY") != "test-key" {
		t.Errorf("request %s %s key %q", r.Method, r.Path, r.Header("X-API-KEY"))
	}
	want := `{"model_config":{"model":"gpt-test","prompt_template":"Say {{what}}","temperature":0.7},"project":"go-tests","inputs":{"what":"hello"},"provider_api_keys":{}}`
	if r.Body != want {
		t.Errorf("body on the wire\n got %s\nwant %s", r.Body, want)
	}
}

func TestEndpoints(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	ctx := context.Background()
	if _, err := c.CompleteDeployed(ctx, &humanloop.CompletionDeployedRequest{Project: "p", Environment: "prod"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteExperiment(ctx, &humanloop.CompletionExperimentRequest{ExperimentID: "exp_1", NumSamples: 2}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.CompleteModelConfiguration(ctx, &humanloop.CompletionModelConfigRequest{ModelConfigID: "config_1", Logprobs: humanloop.Int(0)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body.Logprobs == nil || *resp.Body.Logprobs != 0 {
		t.Errorf("logprobs echo %v", resp.Body.Logprobs)
	}
	reqs := shared.Requests(t)
	paths := []string{"/v4/completion-deployed", "/v4/completion-experiment", "/v4/completion-model-config"}
	// the library adds provider_api_keys (always sent, as the official SDK does) at the end
	bodies := []string{`{"project":"p","environment":"prod","provider_api_keys":{}}`,
		`{"experiment_id":"exp_1","num_samples":2,"provider_api_keys":{}}`,
		`{"model_config_id":"config_1","logprobs":0,"provider_api_keys":{}}`}
	for i, r := range reqs {
		if r.Path != paths[i] {
			t.Errorf("request %d path %s", i, r.Path)
		}
		if r.Body != bodies[i] {
			t.Errorf("request %d body %s, want %s", i, r.Body, bodies[i])
		}
	}
}

func TestRawRequestAndExtra(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	ctx := context.Background()
	resp, err := c.Call(ctx, humanloop.CallComplete, json.RawMessage(`{"model_config":{"model":"m","prompt_template":"x"},"metadata":{"n":0.70}}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body.Metadata["n"] != 0.7 {
		t.Errorf("metadata echo %v", resp.Body.Metadata)
	}
	req := request()
	req.Extra = map[string]json.RawMessage{"user": json.RawMessage(`"u1"`)}
	req.ModelConfig.Extra = map[string]json.RawMessage{"stop": json.RawMessage(`"\n"`)}
	req.Metadata = map[string]interface{}{"raw": json.RawMessage(`[1,2]`)}
	if _, err := c.Complete(ctx, req); err != nil {
		t.Fatal(err)
	}
	reqs := shared.Requests(t)
	if !strings.Contains(reqs[1].Body, `"user":"u1"`) || !strings.Contains(reqs[1].Body, `"stop":"\n"`) ||
		!strings.Contains(reqs[1].Body, `"metadata":{"raw":[1,2]}`) {
		t.Errorf("body %s", reqs[1].Body)
	}
	req.Extra = map[string]json.RawMessage{"project": json.RawMessage(`"twice"`)}
	if _, err := c.Complete(ctx, req); err == nil || !strings.Contains(err.Error(), "also set") {
		t.Errorf("duplicate Extra key: %v", err)
	}
}

func TestAPIError(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{MaxRetries: humanloop.Int(0)})
	shared.Script(t, map[string]interface{}{"status": 422, "json": map[string]interface{}{
		"detail": []interface{}{map[string]interface{}{"loc": []interface{}{"body", "model_config", 0}, "msg": "bad", "type": "value_error"}}},
		"headers": map[string]string{"X-Request-Id": "req-1"}})
	_, err := c.Complete(context.Background(), request())
	var apiErr *humanloop.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want *APIError, got %T %v", err, err)
	}
	if apiErr.Status != 422 || apiErr.Reason != "Unprocessable Entity" || apiErr.Headers.Get("X-Request-Id") != "req-1" || apiErr.Attempts != 1 {
		t.Errorf("%+v", apiErr)
	}
	var v humanloop.HTTPValidationError
	if err := apiErr.DecodeBody(&v); err != nil || len(v.Detail) != 1 || v.Detail[0].Msg != "bad" || v.Detail[0].Loc[2] != float64(0) {
		t.Errorf("detail %+v %v", v, err)
	}
	// a text body, and the 404 of a wrong host
	shared.Script(t, map[string]interface{}{"status": 500, "body": "boom"})
	_, err = c.Complete(context.Background(), request())
	if !errors.As(err, &apiErr) || apiErr.Status != 500 || apiErr.BodyText() != "boom" {
		t.Errorf("500: %T %v", err, err)
	}
	c404b, _ := humanloop.NewClient(humanloop.Config{APIKey: "k", Host: shared.URL + "/v3"})
	defer c404b.Close()
	_, err = c404b.Complete(context.Background(), request())
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || !strings.Contains(apiErr.Message, "/v3/completion") {
		t.Errorf("404: %v", err)
	}
}

func TestRetries(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	shared.Script(t, map[string]interface{}{"status": 503}, map[string]interface{}{"status": 503})
	resp, err := c.Complete(context.Background(), request())
	if err != nil || resp.Attempts != 3 {
		t.Fatalf("retried call: %v %+v", err, resp)
	}
	// per-call option: no retry
	shared.Reset(t)
	shared.Script(t, map[string]interface{}{"status": 503})
	_, err = c.Complete(context.Background(), request(), humanloop.WithMaxRetries(0))
	var apiErr *humanloop.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Attempts != 1 || len(shared.Requests(t)) != 1 {
		t.Fatalf("WithMaxRetries(0): %v", err)
	}
	// WithOptions applies to every call of the derived client
	shared.Reset(t)
	shared.Script(t, map[string]interface{}{"status": 503})
	_, err = c.WithOptions(humanloop.WithMaxRetries(0)).Complete(context.Background(), request())
	if !errors.As(err, &apiErr) || apiErr.Attempts != 1 {
		t.Fatalf("WithOptions: %v", err)
	}
}

func TestHeadersOption(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	_, err := c.Complete(context.Background(), request(),
		humanloop.WithHeader("X-Trace", "abc"), humanloop.WithHeader("x-trace", "def"),
		humanloop.WithHeaders(http.Header{"User-Agent": {"my-agent/1"}}))
	if err != nil {
		t.Fatal(err)
	}
	r := shared.Requests(t)[0]
	if r.Header("X-Trace") != "def" || r.Header("User-Agent") != "my-agent/1" {
		t.Errorf("headers %v", r.Headers)
	}
	// headers that cannot be set, and a bad value: a ValidationError naming the option
	_, err = c.Complete(context.Background(), request(), humanloop.WithHeader("X-API-KEY", "other"),
		humanloop.WithHeader("X-Bad", "a\r\nb"), humanloop.WithTimeout(-time.Second))
	var ve *humanloop.ValidationError
	if !errors.As(err, &ve) || ve.Type != "invalid_request" || len(ve.Problems) != 3 || !strings.HasPrefix(ve.Path, "options.") {
		t.Fatalf("bad options: %T %v %+v", err, err, ve)
	}
	if len(shared.Requests(t)) != 1 {
		t.Error("a request with bad options was sent")
	}
}

func TestValidationError(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	req := &humanloop.CompletionRequest{ModelConfig: humanloop.ModelConfig{Provider: "nope"},
		Extra: map[string]json.RawMessage{"bogus": json.RawMessage(`1`)}}
	_, err := c.Complete(context.Background(), req)
	var ve *humanloop.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	paths := map[string]bool{}
	for _, p := range ve.Problems {
		paths[p.Path] = true
	}
	// empty strings are sent as "" by the required fields: model and prompt_template are present
	if !paths["model_config.provider"] || !paths["bogus"] || ve.Attempts != 0 || ve.Type != "invalid_request" {
		t.Errorf("problems %+v", ve.Problems)
	}
	_, err = c.Call(context.Background(), humanloop.CallComplete, `{"model_config":{"model":1}}`)
	if !errors.As(err, &ve) || ve.Path != "model_config.model" || len(ve.Problems) < 2 {
		t.Errorf("raw: %v", err)
	}
	_, err = c.Call(context.Background(), "no_such_call", `{}`)
	if !errors.As(err, &ve) {
		t.Errorf("unknown call name: %v", err)
	}
	if n := len(shared.Requests(t)); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestConfigError(t *testing.T) {
	_, err := humanloop.NewClient(humanloop.Config{APIKey: "k", Host: "ftp://x", Timeout: -time.Second, MaxRetries: humanloop.Int(1000)})
	var ve *humanloop.ValidationError
	if !errors.As(err, &ve) || ve.Type != "invalid_config" || len(ve.Problems) != 3 {
		t.Fatalf("%T %v %+v", err, err, ve)
	}
	os.Setenv("HUMANLOOP_API_KEY", "")
	defer os.Unsetenv("HUMANLOOP_API_KEY")
	if _, err := humanloop.NewClientFromEnv(); !errors.As(err, &ve) || ve.Path != "api_key" {
		t.Errorf("no key: %v", err)
	}
	os.Setenv("HUMANLOOP_API_KEY", "env-key")
	os.Setenv("HUMANLOOP_HOST", shared.BaseURL)
	defer os.Unsetenv("HUMANLOOP_HOST")
	c, err := humanloop.NewClientFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	shared.Reset(t)
	if _, err := c.Complete(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	if k := shared.Requests(t)[0].Header("X-API-KEY"); k != "env-key" {
		t.Errorf("key %q", k)
	}
}

func TestConnectionError(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{MaxRetries: humanloop.Int(0)})
	srv.Close() // nothing listens on the port any more
	_, err := c.Complete(context.Background(), request())
	var ce *humanloop.ConnectionError
	if !errors.As(err, &ce) || ce.Attempts != 1 {
		t.Fatalf("want *ConnectionError, got %T %v", err, err)
	}
	// a connection cut mid-body
	shared.Reset(t)
	c2 := newClient(t, shared, humanloop.Config{MaxRetries: humanloop.Int(0)})
	shared.Script(t, map[string]interface{}{"fault": "close_mid_body"})
	if _, err := c2.Complete(context.Background(), request()); !errors.As(err, &ce) {
		t.Fatalf("close_mid_body: %T %v", err, err)
	}
}

func TestTimeoutError(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{MaxRetries: humanloop.Int(0)})
	shared.Script(t, map[string]interface{}{"delay": 5})
	start := time.Now()
	_, err := c.Complete(context.Background(), request(), humanloop.WithTimeout(300*time.Millisecond))
	var te *humanloop.TimeoutError
	if !errors.As(err, &te) || !te.Timeout() {
		t.Fatalf("want *TimeoutError, got %T %v", err, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestInvalidResponseError(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{MaxRetries: humanloop.Int(0)})
	shared.Script(t, map[string]interface{}{"status": 200, "body": "not json"},
		map[string]interface{}{"status": 200, "json": map[string]interface{}{"data": "not a list"}})
	_, err := c.Complete(context.Background(), request())
	var ie *humanloop.InvalidResponseError
	if !errors.As(err, &ie) || ie.Status != 200 || ie.Body != "not json" {
		t.Fatalf("want *InvalidResponseError, got %T %v", err, err)
	}
	_, err = c.Complete(context.Background(), request())
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, "CompletionResponse") {
		t.Fatalf("mistyped body: %T %v", err, err)
	}
}

// TestContextCancel: cancelling the context ends the call promptly and closes its connection.
func TestContextCancel(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{})
	srv.Script(t, map[string]interface{}{"delay": 10})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Complete(ctx, request())
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %T %v", err, err)
	}
	var ce *humanloop.CanceledError
	if !errors.As(err, &ce) || ce.Attempts != 1 || ce.Timeout() {
		t.Errorf("%+v", ce)
	}
	if took > time.Second { // 200 ms + "promptly" (the library closes the connection within 100 ms)
		t.Errorf("returned after %v", took)
	}
	waitNoOpenConnections(t, srv, time.Second)
	if n := srv.Stats(t).Requests; n != 1 {
		t.Errorf("%d requests (a cancelled call must not be retried)", n)
	}
	// already cancelled: nothing is sent
	if _, err := c.Complete(ctx, request()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before start: %v", err)
	}
	if n := srv.Stats(t).Requests; n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestContextDeadline(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{})
	srv.Script(t, map[string]interface{}{"fault": "stall_mid_body"})
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Complete(ctx, request())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want DeadlineExceeded, got %T %v", err, err)
	}
	var ce *humanloop.CanceledError
	if !errors.As(err, &ce) || !ce.Timeout() {
		t.Errorf("%T %v", err, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v", d)
	}
	waitNoOpenConnections(t, srv, time.Second)
}

// TestCancelDuringRetryDelay: a cancellation cuts a retry delay short.
func TestCancelDuringRetryDelay(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{RetryBaseDelay: humanloop.Duration(10 * time.Second), RetryMaxDelay: humanloop.Duration(10 * time.Second)})
	srv.Script(t, map[string]interface{}{"status": 503})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Complete(ctx, request())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestStream(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	s := c.CompleteStream(context.Background(), request())
	defer s.Close()
	var text strings.Builder
	n := 0
	for s.Next() {
		ev := s.Event()
		if s.Status() != 200 || s.Headers().Get("Content-Type") != "text/event-stream" {
			t.Errorf("status %d headers %v during the stream", s.Status(), s.Headers())
		}
		text.WriteString(ev.Output())
		if !json.Valid(ev.Raw) || ev.Chunk.Data[0].ID != "data_9dJz3WqkT2uYvX8pLmN4c" {
			t.Errorf("event %s", ev.Raw)
		}
		n++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 4 || text.String() != "Llamas are friendly and curious; here is the data: they like people." {
		t.Errorf("%d events: %q", n, text.String())
	}
	res := s.Result()
	if res == nil || res.Status != 200 || res.Events != 4 || res.Attempts != 1 || res.Headers.Get("Content-Type") != "text/event-stream" {
		t.Errorf("result %+v", res)
	}
	r := shared.Requests(t)[0]
	if !strings.Contains(r.Body, `"stream":true`) {
		t.Errorf("body %s", r.Body)
	}
	if s.Next() {
		t.Error("Next after the end")
	}
}

func TestStreamErrors(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{MaxRetries: humanloop.Int(0)})
	// an API error before the stream
	shared.Script(t, map[string]interface{}{"status": 429, "json": map[string]string{"detail": "slow down"}})
	s := c.CompleteStream(context.Background(), request())
	if s.Next() {
		t.Fatal("an event from a 429")
	}
	var apiErr *humanloop.APIError
	if !errors.As(s.Err(), &apiErr) || apiErr.Status != 429 {
		t.Fatalf("%T %v", s.Err(), s.Err())
	}
	s.Close()
	// a validation error comes through the stream too
	s = c.CompleteStream(context.Background(), &humanloop.CompletionRequest{Extra: map[string]json.RawMessage{"bogus": json.RawMessage("1")}})
	var ve *humanloop.ValidationError
	if s.Next() || !errors.As(s.Err(), &ve) {
		t.Fatalf("%v", s.Err())
	}
	s.Close()
	// a connection cut after 2 events
	shared.Script(t, map[string]interface{}{"stream": map[string]interface{}{"cut_after": 2}})
	s = c.CompleteStream(context.Background(), request())
	n := 0
	for s.Next() {
		n++
	}
	var ce *humanloop.ConnectionError
	if n != 2 || !errors.As(s.Err(), &ce) {
		t.Fatalf("%d events, %T %v", n, s.Err(), s.Err())
	}
	s.Close()
	// a bad event
	shared.Script(t, map[string]interface{}{"stream": map[string]interface{}{"events": []interface{}{map[string]interface{}{"raw": "[1]"}}}})
	s = c.CompleteStream(context.Background(), request())
	var ie *humanloop.InvalidResponseError
	if s.Next() || !errors.As(s.Err(), &ie) {
		t.Fatalf("%T %v", s.Err(), s.Err())
	}
	s.Close()
}

// TestStreamCancel: cancelling the context (or Close) stops an endless stream at once.
func TestStreamCancel(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{})
	endless := map[string]interface{}{"stream": map[string]interface{}{"forever": true, "delay": 0.02}}
	srv.Script(t, endless, endless)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := c.CompleteStream(ctx, request())
	n := 0
	var cancelled time.Time
	for s.Next() {
		n++
		if n == 5 {
			cancelled = time.Now()
			cancel()
		}
	}
	if n != 5 || !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("%d events, %v", n, s.Err())
	}
	if d := time.Since(cancelled); d > 500*time.Millisecond {
		t.Errorf("the stream ended %v after its context was cancelled", d)
	}
	s.Close()
	waitNoOpenConnections(t, srv, time.Second)

	// cancel while nobody calls Next: the watcher cancels the transfer
	ctx2, cancel2 := context.WithCancel(context.Background())
	s = c.CompleteStream(ctx2, request())
	if !s.Next() {
		t.Fatal(s.Err())
	}
	cancel2()
	waitNoOpenConnections(t, srv, time.Second)
	for s.Next() {
	}
	if !errors.Is(s.Err(), context.Canceled) {
		t.Errorf("%v", s.Err())
	}
	s.Close()

	// Close mid-stream
	srv.Script(t, endless)
	s = c.CompleteStream(context.Background(), request())
	if !s.Next() {
		t.Fatal(s.Err())
	}
	s.Close()
	if s.Next() || s.Err() != nil {
		t.Errorf("after Close: %v", s.Err())
	}
	waitNoOpenConnections(t, srv, time.Second)
}

func TestStreamMergedByComplete(t *testing.T) {
	shared.Reset(t)
	c := newClient(t, shared, humanloop.Config{})
	req := request()
	req.Stream = true
	resp, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Events) != 4 || resp.Output() != "Llamas are friendly and curious; here is the data: they like people." {
		t.Errorf("%d events, %q", len(resp.Events), resp.Output())
	}
}

// TestConcurrent: many goroutines share one client; calls, streams and cancellations mixed.
func TestConcurrent(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{})
	const goroutines, perG = 100, 10
	var ok, cancelled int64
	var wg sync.WaitGroup
	threadsBefore := threads()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				switch (g + i) % 5 {
				case 0: // a stream
					s := c.CompleteStream(context.Background(), request())
					n := 0
					for s.Next() {
						n++
					}
					if s.Err() != nil || n != 4 {
						t.Errorf("stream: %d events, %v", n, s.Err())
					}
					s.Close()
					atomic.AddInt64(&ok, 1)
				case 1: // cancelled at once
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					if _, err := c.Complete(ctx, request()); !errors.Is(err, context.Canceled) {
						t.Errorf("cancelled: %v", err)
					}
					atomic.AddInt64(&cancelled, 1)
				case 2: // cancelled at some point during the call (or finished before)
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*200*time.Microsecond)
					_, err := c.Complete(ctx, request())
					cancel()
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("deadline: %v", err)
					}
				default:
					resp, err := c.Complete(context.Background(), request())
					if err != nil || resp.Output() != "Hello from the test server" {
						t.Errorf("call: %v", err)
						continue
					}
					atomic.AddInt64(&ok, 1)
				}
			}
		}(g)
	}
	wg.Wait()
	if ok < goroutines*perG*3/5 {
		t.Errorf("%d ok", ok)
	}
	t.Logf("%d ok, %d cancelled; OS threads %d -> %d", ok, cancelled, threadsBefore, threads())
}

// TestCloseWithCallsInFlight: Close cancels the calls in flight; later calls fail at once.
func TestCloseWithCallsInFlight(t *testing.T) {
	srv := startServer(t)
	c, err := humanloop.NewClient(humanloop.Config{APIKey: "k", Host: srv.BaseURL})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		srv.Script(t, map[string]interface{}{"delay": 10})
	}
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func() { _, err := c.Complete(context.Background(), request()); errs <- err }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats(t).ConnectionsOpen < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	c.Close()
	for i := 0; i < 5; i++ {
		err := <-errs
		var ce *humanloop.CanceledError
		if !errors.Is(err, humanloop.ErrClientClosed) || !errors.As(err, &ce) {
			t.Errorf("in flight: %T %v", err, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := c.Complete(context.Background(), request()); !errors.Is(err, humanloop.ErrClientClosed) {
		t.Errorf("after Close: %v", err)
	}
	s := c.CompleteStream(context.Background(), request())
	if s.Next() || !errors.Is(s.Err(), humanloop.ErrClientClosed) {
		t.Errorf("stream after Close: %v", s.Err())
	}
	c.Close() // idempotent
}

// threads returns the number of OS threads of this process.
func threads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Threads:") {
			var n int
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "Threads:")), "%d", &n)
			return n
		}
	}
	return -1
}

// TestThreadsBounded: 500 calls in flight at once do not hold 500 OS threads.
func TestThreadsBounded(t *testing.T) {
	srv := startServer(t)
	c := newClient(t, srv, humanloop.Config{})
	const n = 300
	for i := 0; i < n; i++ {
		srv.Script(t, map[string]interface{}{"delay": 0.5})
	}
	var wg sync.WaitGroup
	peak := int64(0)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if th := int64(threads()); th > atomic.LoadInt64(&peak) {
					atomic.StoreInt64(&peak, th)
				}
			}
		}
	}()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Complete(context.Background(), request()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	limit := int64(runtime.GOMAXPROCS(0)*4 + 40)
	got := atomic.LoadInt64(&peak)
	t.Logf("%d calls in flight: peak %d OS threads", n, got)
	if got > limit {
		t.Errorf("peak %d OS threads for %d calls in flight (limit %d)", got, n, limit)
	}
}
