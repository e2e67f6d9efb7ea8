package humanloop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The errors of a call. Every failed call returns one of these pointer types (use errors.As):
//
//	*APIError             the server answered with a non-2xx status
//	*ValidationError      the request (or the client configuration) is invalid; nothing was sent
//	*ConnectionError      the connection could not be made or broke (DNS, refused, reset, TLS, proxy)
//	*TimeoutError         the call or its connection phase ran out of time (the library's timeouts)
//	*InvalidResponseError a 2xx answer that is not a JSON object (or too large, or malformed)
//	*CanceledError        the call was cancelled: errors.Is(err, context.Canceled) or
//	                      errors.Is(err, context.DeadlineExceeded) when its context caused it,
//	                      errors.Is(err, ErrClientClosed) when the client was closed
//
// Each has Message (one readable sentence, never containing an API key), Attempts (HTTP attempts
// made; 0 when nothing was sent) and Raw (the library's error object as JSON).

// ErrClientClosed is returned (wrapped) by calls on a closed client, and by calls in flight when
// their client is closed.
var ErrClientClosed = errors.New("humanloop: client closed")

// Problem is one problem of an invalid request or configuration.
type Problem struct {
	Path    string `json:"path"`    // e.g. "model_config.temperature", "options.timeout", "host"
	Message string `json:"message"` // e.g. "model_config.temperature must be a number, not a string"
}

// APIError: the server answered with a non-2xx status.
type APIError struct {
	Status        int             // HTTP status, e.g. 422
	Reason        string          // reason phrase, e.g. "Unprocessable Entity"
	Body          json.RawMessage // the body: its JSON when it was JSON, else a JSON string of the text
	Headers       http.Header     // the answer's headers
	RoundTripTime time.Duration   // of the last attempt
	Message       string
	Attempts      int
	Raw           json.RawMessage
}

func (e *APIError) Error() string { return "humanloop: " + e.Message }

// BodyText returns the body as text: the string when the body was not JSON, else the JSON text.
func (e *APIError) BodyText() string {
	var s string
	if len(e.Body) > 0 && e.Body[0] == '"' && json.Unmarshal(e.Body, &s) == nil {
		return s
	}
	return string(e.Body)
}

// DecodeBody decodes the JSON body into v (for a 422, e.g. into *HTTPValidationError).
func (e *APIError) DecodeBody(v interface{}) error { return json.Unmarshal(e.Body, v) }

// ValidationError: the request ("invalid_request") or the client configuration
// ("invalid_config") is invalid. Nothing was sent. Problems lists every problem found.
type ValidationError struct {
	Type     string    // "invalid_request" or "invalid_config"
	Path     string    // the first bad value ("" for the whole request)
	Problems []Problem // every problem
	Message  string
	Attempts int
	Raw      json.RawMessage
}

func (e *ValidationError) Error() string { return "humanloop: " + e.Message }

// ConnectionError: the connection could not be made or broke.
type ConnectionError struct {
	Message  string
	Attempts int
	Raw      json.RawMessage
}

func (e *ConnectionError) Error() string { return "humanloop: " + e.Message }

// TimeoutError: the call (or its connection phase) ran out of time: the library's "timeout",
// "connect_timeout" or "low_speed_timeout" (a context deadline gives a *CanceledError instead).
type TimeoutError struct {
	Message  string
	Attempts int
	Raw      json.RawMessage
}

func (e *TimeoutError) Error() string { return "humanloop: " + e.Message }

// Timeout reports true (the net.Error convention).
func (e *TimeoutError) Timeout() bool { return true }

// InvalidResponseError: a 2xx answer whose body is empty, not UTF-8, not JSON, not a JSON object or
// not shaped as a CompletionResponse, or any body larger than MaxResponseBytes; a malformed
// status line or response head.
type InvalidResponseError struct {
	Status   int
	Body     string // the text received, possibly cut short
	Message  string
	Attempts int
	Raw      json.RawMessage
}

func (e *InvalidResponseError) Error() string { return "humanloop: " + e.Message }

// CanceledError: the call ended because it was cancelled: its context was cancelled or passed
// its deadline (Unwrap returns context.Canceled or context.DeadlineExceeded), or the client was
// closed (ErrClientClosed). The transfer was stopped and its connection closed.
type CanceledError struct {
	Cause    error // context.Canceled, context.DeadlineExceeded or ErrClientClosed
	Message  string
	Attempts int
	Raw      json.RawMessage
}

func (e *CanceledError) Error() string {
	if e.Cause != nil {
		return "humanloop: " + e.Message + ": " + e.Cause.Error()
	}
	return "humanloop: " + e.Message
}

func (e *CanceledError) Unwrap() error { return e.Cause }

// Timeout reports whether a context deadline caused the cancellation.
func (e *CanceledError) Timeout() bool { return errors.Is(e.Cause, context.DeadlineExceeded) }

// wireError is the "error" object of an error envelope.
type wireError struct {
	Type          string            `json:"type"`
	Message       string            `json:"message"`
	Path          string            `json:"path"`
	Errors        []Problem         `json:"errors"`
	Status        int               `json:"status"`
	Reason        string            `json:"reason"`
	Body          json.RawMessage   `json:"body"`
	Headers       map[string]string `json:"headers"`
	RoundTripTime float64           `json:"round_trip_time"`
}

// errorFromWire turns an error object of an envelope into the matching Go error. cause is the
// reason a "cancelled" error happened (the context's error or ErrClientClosed), when known.
func errorFromWire(raw json.RawMessage, attempts int, cause error) error {
	var w wireError
	if err := json.Unmarshal(raw, &w); err != nil {
		return &InvalidResponseError{Message: "the library returned an unreadable error: " + err.Error(), Attempts: attempts, Raw: raw}
	}
	switch w.Type {
	case "api_error":
		return &APIError{Status: w.Status, Reason: w.Reason, Body: w.Body, Headers: toHeader(w.Headers),
			RoundTripTime: seconds(w.RoundTripTime), Message: w.Message, Attempts: attempts, Raw: raw}
	case "invalid_request", "invalid_config":
		problems := w.Errors
		if len(problems) == 0 {
			problems = []Problem{{Path: w.Path, Message: w.Message}}
		}
		return &ValidationError{Type: w.Type, Path: w.Path, Problems: problems, Message: w.Message, Attempts: attempts, Raw: raw}
	case "connection_error":
		return &ConnectionError{Message: w.Message, Attempts: attempts, Raw: raw}
	case "timeout":
		return &TimeoutError{Message: w.Message, Attempts: attempts, Raw: raw}
	case "invalid_response":
		var body string
		if len(w.Body) > 0 && json.Unmarshal(w.Body, &body) != nil {
			body = string(w.Body)
		}
		return &InvalidResponseError{Status: w.Status, Body: body, Message: w.Message, Attempts: attempts, Raw: raw}
	case "cancelled":
		if cause == nil {
			cause = context.Canceled
		}
		return &CanceledError{Cause: cause, Message: w.Message, Attempts: attempts, Raw: raw}
	}
	return &InvalidResponseError{Message: fmt.Sprintf("unknown error type %q: %s", w.Type, w.Message), Attempts: attempts, Raw: raw}
}

func toHeader(m map[string]string) http.Header {
	if m == nil {
		return nil
	}
	h := make(http.Header, len(m))
	for k, v := range m {
		h[http.CanonicalHeaderKey(k)] = []string{v}
	}
	return h
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func canceledBeforeStart(name string, cause error) error {
	return &CanceledError{Cause: cause, Message: strings.ReplaceAll(name, "_", " ") + " not started"}
}
