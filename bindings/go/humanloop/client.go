package humanloop

// #include <stdlib.h>
// #include "humanloop.h"
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Version returns the version of the libhumanloop the program runs with, e.g. "0.2.0".
func Version() string { return C.GoString(C.hl_version()) }

// Config configures a client. Every field is optional; the zero Config takes the API key from
// HUMANLOOP_API_KEY and the host from HUMANLOOP_HOST (else https://api.humanloop.com/v4).
// Problems are reported all at once by NewClient as a *ValidationError of Type "invalid_config".
type Config struct {
	APIKey    string // else HUMANLOOP_API_KEY; one is required
	Host      string // http:// or https:// base URL including /v4; else HUMANLOOP_HOST, else the API
	UserAgent string // default "libhumanloop/<version>"

	// Client-level provider keys, merged into every request's provider_api_keys (a key given
	// in the request wins).
	OpenAIAPIKey, OpenAIAzureAPIKey, OpenAIAzureEndpointAPIKey string
	AI21APIKey, MockAPIKey, AnthropicAPIKey, CohereAPIKey      string

	Timeout         time.Duration // each attempt of a call, a stream's head and first event only (see WithTimeout); 0: default 600 s
	ConnectTimeout  time.Duration // 0: default 10 s
	LowSpeedTimeout time.Duration // without a byte received; 0: default 60 s

	MaxRetries     *int           // 0..100; nil: default 2 (Int(0) turns retries off)
	RetryBaseDelay *time.Duration // nil: default 0.5 s
	RetryMaxDelay  *time.Duration // nil: default 8 s

	MaxResponseBytes int64   // 0: default 64 MiB
	CABundle         string  // PEM file of CA certificates for https; default the system's
	LogLevel         string  // "off", "info", "debug"; default HUMANLOOP_LOG, else "off"
	MaxConnections   int     // connections per host of the engine; 0: default 1000
	Proxy            *string // proxy URL; String("") for none; nil: the environment's
}

type wireConfig struct {
	APIKey                    string   `json:"api_key,omitempty"`
	Host                      string   `json:"host,omitempty"`
	UserAgent                 string   `json:"user_agent,omitempty"`
	OpenAIAPIKey              string   `json:"openai_api_key,omitempty"`
	OpenAIAzureAPIKey         string   `json:"openai_azure_api_key,omitempty"`
	OpenAIAzureEndpointAPIKey string   `json:"openai_azure_endpoint_api_key,omitempty"`
	AI21APIKey                string   `json:"ai21_api_key,omitempty"`
	MockAPIKey                string   `json:"mock_api_key,omitempty"`
	AnthropicAPIKey           string   `json:"anthropic_api_key,omitempty"`
	CohereAPIKey              string   `json:"cohere_api_key,omitempty"`
	Timeout                   *float64 `json:"timeout,omitempty"`
	ConnectTimeout            *float64 `json:"connect_timeout,omitempty"`
	LowSpeedTimeout           *float64 `json:"low_speed_timeout,omitempty"`
	MaxRetries                *int     `json:"max_retries,omitempty"`
	RetryBaseDelay            *float64 `json:"retry_base_delay,omitempty"`
	RetryMaxDelay             *float64 `json:"retry_max_delay,omitempty"`
	MaxResponseBytes          *int64   `json:"max_response_bytes,omitempty"`
	CABundle                  string   `json:"ca_bundle,omitempty"`
	LogLevel                  string   `json:"log_level,omitempty"`
	MaxConnections            *int     `json:"max_connections,omitempty"`
	Proxy                     *string  `json:"proxy,omitempty"`
}

func durationSeconds(d time.Duration) *float64 {
	if d == 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}

func (cfg *Config) toJSON() ([]byte, error) {
	w := wireConfig{
		APIKey: cfg.APIKey, Host: cfg.Host, UserAgent: cfg.UserAgent,
		OpenAIAPIKey: cfg.OpenAIAPIKey, OpenAIAzureAPIKey: cfg.OpenAIAzureAPIKey,
		OpenAIAzureEndpointAPIKey: cfg.OpenAIAzureEndpointAPIKey, AI21APIKey: cfg.AI21APIKey,
		MockAPIKey: cfg.MockAPIKey, AnthropicAPIKey: cfg.AnthropicAPIKey, CohereAPIKey: cfg.CohereAPIKey,
		Timeout: durationSeconds(cfg.Timeout), ConnectTimeout: durationSeconds(cfg.ConnectTimeout),
		LowSpeedTimeout: durationSeconds(cfg.LowSpeedTimeout), MaxRetries: cfg.MaxRetries,
		CABundle: cfg.CABundle, LogLevel: cfg.LogLevel, Proxy: cfg.Proxy,
	}
	if cfg.RetryBaseDelay != nil {
		s := cfg.RetryBaseDelay.Seconds()
		w.RetryBaseDelay = &s
	}
	if cfg.RetryMaxDelay != nil {
		s := cfg.RetryMaxDelay.Seconds()
		w.RetryMaxDelay = &s
	}
	if cfg.MaxResponseBytes != 0 {
		w.MaxResponseBytes = &cfg.MaxResponseBytes
	}
	if cfg.MaxConnections != 0 {
		w.MaxConnections = &cfg.MaxConnections
	}
	return json.Marshal(w)
}

// core owns the native client and its completion queue, shared by a Client and the clients
// WithOptions derives from it.
type core struct {
	mu     sync.RWMutex // held (read) while submitting a call; Close takes it to free the client
	native *C.hl_client
	queue  *dispatcher // the queue of the client's calls and the goroutine that empties it
}

// Client is a Humanloop client: configuration, credentials, a pool of connections and the
// library's engine (one thread running every call of the client on libcurl's multi interface:
// no OS thread is held per call in flight), whose results reach Go through one completion
// queue and one goroutine per client. Safe for concurrent use by any number of goroutines.
// Close it when done (a client that becomes unreachable is closed by a finalizer).
type Client struct {
	core     *core
	defaults []CallOption
}

// NewClient creates a client. A configuration problem is a *ValidationError (Type
// "invalid_config", Problems listing every problem, each with its configuration key as Path).
func NewClient(cfg Config) (*Client, error) {
	js, err := cfg.toJSON()
	if err != nil {
		return nil, err
	}
	js = append(js, 0)
	var errJSON *C.char
	native := C.hl_client_new((*C.char)(unsafe.Pointer(&js[0])), &errJSON)
	if native == nil {
		if errJSON == nil {
			return nil, errors.New("humanloop: hl_client_new failed (out of memory)")
		}
		item := C.GoString(errJSON)
		C.hl_free(errJSON)
		_, err := decodeEnvelope([]byte(item), nil)
		if err == nil {
			err = errors.New("humanloop: hl_client_new failed: " + item)
		}
		return nil, err
	}
	queue, err := newDispatcher()
	if err != nil {
		C.hl_client_free(native)
		return nil, err
	}
	co := &core{native: native, queue: queue}
	runtime.SetFinalizer(co, (*core).close)
	return &Client{core: co}, nil
}

// NewClientFromEnv creates a client from the environment alone: HUMANLOOP_API_KEY,
// HUMANLOOP_HOST, HUMANLOOP_LOG, and libcurl's proxy variables (the same as NewClient(Config{})).
func NewClientFromEnv() (*Client, error) { return NewClient(Config{}) }

// WithOptions returns a client that shares c's connections and engine and applies opts to every
// call (before the call's own options). Closing either closes both.
func (c *Client) WithOptions(opts ...CallOption) *Client {
	d := make([]CallOption, 0, len(c.defaults)+len(opts))
	d = append(d, c.defaults...)
	d = append(d, opts...)
	return &Client{core: c.core, defaults: d}
}

// Close cancels the calls in flight (they return a *CanceledError wrapping ErrClientClosed;
// a stream's Next returns false and its Err that error), closes the connections, stops the
// engine and the client's queue goroutine. Later calls return ErrClientClosed. Idempotent.
func (c *Client) Close() error {
	c.core.close()
	return nil
}

func (co *core) close() {
	co.mu.Lock()
	native := co.native
	co.native = nil
	co.mu.Unlock()
	if native != nil {
		runtime.SetFinalizer(co, nil)
		// The engine delivers the "cancelled" items of the calls in flight to the queue before
		// hl_client_free returns; the queue goroutine hands them out, then stops.
		C.hl_client_free(native)
		co.queue.close()
	}
}

// Complete calls POST /completion and returns the answer or an error (see errors.go).
func (c *Client) Complete(ctx context.Context, req *CompletionRequest, opts ...CallOption) (*Response, error) {
	if req == nil {
		return nil, nilRequest()
	}
	return c.Call(ctx, CallComplete, req, opts...)
}

// CompleteDeployed calls POST /completion-deployed.
func (c *Client) CompleteDeployed(ctx context.Context, req *CompletionDeployedRequest, opts ...CallOption) (*Response, error) {
	if req == nil {
		return nil, nilRequest()
	}
	return c.Call(ctx, CallCompleteDeployed, req, opts...)
}

// CompleteExperiment calls POST /completion-experiment.
func (c *Client) CompleteExperiment(ctx context.Context, req *CompletionExperimentRequest, opts ...CallOption) (*Response, error) {
	if req == nil {
		return nil, nilRequest()
	}
	return c.Call(ctx, CallCompleteExperiment, req, opts...)
}

// CompleteModelConfiguration calls POST /completion-model-config.
func (c *Client) CompleteModelConfiguration(ctx context.Context, req *CompletionModelConfigRequest, opts ...CallOption) (*Response, error) {
	if req == nil {
		return nil, nilRequest()
	}
	return c.Call(ctx, CallCompleteModelConfiguration, req, opts...)
}

// CompleteStream calls POST /completion with "stream": true and returns the events as they
// arrive. Every failure, before or during the stream, is reported by the stream's Err.
func (c *Client) CompleteStream(ctx context.Context, req *CompletionRequest, opts ...CallOption) *Stream {
	if req == nil {
		return &Stream{err: nilRequest(), ended: true}
	}
	r := *req
	r.Stream = true
	return c.CallStream(ctx, CallComplete, &r, opts...)
}

// CompleteDeployedStream is CompleteStream for POST /completion-deployed.
func (c *Client) CompleteDeployedStream(ctx context.Context, req *CompletionDeployedRequest, opts ...CallOption) *Stream {
	if req == nil {
		return &Stream{err: nilRequest(), ended: true}
	}
	r := *req
	r.Stream = true
	return c.CallStream(ctx, CallCompleteDeployed, &r, opts...)
}

// CompleteExperimentStream is CompleteStream for POST /completion-experiment.
func (c *Client) CompleteExperimentStream(ctx context.Context, req *CompletionExperimentRequest, opts ...CallOption) *Stream {
	if req == nil {
		return &Stream{err: nilRequest(), ended: true}
	}
	r := *req
	r.Stream = true
	return c.CallStream(ctx, CallCompleteExperiment, &r, opts...)
}

// CompleteModelConfigurationStream is CompleteStream for POST /completion-model-config.
func (c *Client) CompleteModelConfigurationStream(ctx context.Context, req *CompletionModelConfigRequest, opts ...CallOption) *Stream {
	if req == nil {
		return &Stream{err: nilRequest(), ended: true}
	}
	r := *req
	r.Stream = true
	return c.CallStream(ctx, CallCompleteModelConfiguration, &r, opts...)
}

func nilRequest() error {
	return &ValidationError{Type: "invalid_request", Message: "the request is nil", Problems: []Problem{{Message: "the request is nil"}}}
}
