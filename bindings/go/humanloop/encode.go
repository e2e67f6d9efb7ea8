package humanloop

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// An append-based JSON writer for the request types: the same JSON as encoding/json would write
// for them (field order as declared, omitempty), without reflection. Values of interface{} type
// (Inputs, Metadata, Other) that are not plain strings, numbers, booleans, nil, json.RawMessage,
// maps or slices of those go through encoding/json.

type enc struct {
	b       []byte
	err     error
	n       int      // members written in the current object
	written []string // keys written, kept only when an Extra map must be checked
	track   bool
}

func (e *enc) open(track bool) {
	e.b = append(e.b, '{')
	e.n = 0
	e.track = track
	e.written = e.written[:0]
}

func (e *enc) key(k string) {
	if e.n > 0 {
		e.b = append(e.b, ',')
	}
	e.n++
	e.b = append(e.b, '"')
	e.b = append(e.b, k...) // field names need no escaping
	e.b = append(e.b, '"', ':')
	if e.track {
		e.written = append(e.written, k)
	}
}

func (e *enc) strField(k, v string) {
	if v != "" {
		e.key(k)
		e.str(v)
	}
}

func (e *enc) intPtrField(k string, v *int) {
	if v != nil {
		e.key(k)
		e.b = strconv.AppendInt(e.b, int64(*v), 10)
	}
}

func (e *enc) intField(k string, v int) {
	if v != 0 {
		e.key(k)
		e.b = strconv.AppendInt(e.b, int64(v), 10)
	}
}

func (e *enc) floatPtrField(k string, v *float64) {
	if v != nil {
		e.key(k)
		e.float(*v)
	}
}

func (e *enc) mapField(k string, m map[string]interface{}) {
	if len(m) > 0 {
		e.key(k)
		e.anyMap(m)
	}
}

// close writes the Extra members (sorted) and the closing brace.
func (e *enc) close(extra map[string]json.RawMessage) {
	if len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, w := range e.written {
				if w == k {
					e.fail(fmt.Errorf("humanloop: Extra key %q is also set by a field", k))
				}
			}
			if e.n > 0 {
				e.b = append(e.b, ',')
			}
			e.n++
			e.str(k)
			e.b = append(e.b, ':')
			e.raw(extra[k])
		}
	}
	e.b = append(e.b, '}')
}

func (e *enc) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *enc) raw(r json.RawMessage) {
	if len(r) == 0 {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, r...)
}

const hexDigits = "0123456789abcdef"

func (e *enc) str(s string) {
	if !utf8.ValidString(s) { // encoding/json replaces invalid bytes with U+FFFD
		b, _ := json.Marshal(s)
		e.b = append(e.b, b...)
		return
	}
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		e.b = append(e.b, s[start:i]...)
		switch c {
		case '"', '\\':
			e.b = append(e.b, '\\', c)
		case '\n':
			e.b = append(e.b, '\\', 'n')
		case '\r':
			e.b = append(e.b, '\\', 'r')
		case '\t':
			e.b = append(e.b, '\\', 't')
		default:
			e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

// float writes f as encoding/json does.
func (e *enc) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.fail(fmt.Errorf("humanloop: unsupported number %v", f))
		e.b = append(e.b, '0')
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		n := len(e.b)
		if n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

func (e *enc) anyMap(m map[string]interface{}) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.b = append(e.b, '{')
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		e.value(m[k])
	}
	e.b = append(e.b, '}')
}

func (e *enc) value(v interface{}) {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, "null"...)
	case string:
		e.str(x)
	case bool:
		e.b = strconv.AppendBool(e.b, x)
	case int:
		e.b = strconv.AppendInt(e.b, int64(x), 10)
	case int64:
		e.b = strconv.AppendInt(e.b, x, 10)
	case float64:
		e.float(x)
	case json.RawMessage:
		if x == nil {
			e.b = append(e.b, "null"...)
		} else {
			e.b = append(e.b, x...)
		}
	case map[string]interface{}:
		if x == nil {
			e.b = append(e.b, "null"...)
		} else {
			e.anyMap(x)
		}
	case []interface{}:
		if x == nil {
			e.b = append(e.b, "null"...)
			return
		}
		e.b = append(e.b, '[')
		for i, item := range x {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.value(item)
		}
		e.b = append(e.b, ']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			e.fail(err)
			return
		}
		e.b = append(e.b, b...)
	}
}

func (e *enc) modelConfig(m *ModelConfig) {
	outer, outerN, outerTrack := e.written, e.n, e.track
	e.written = nil
	e.open(len(m.Extra) > 0)
	e.key("model")
	e.str(m.Model)
	e.key("prompt_template")
	e.str(m.PromptTemplate)
	e.strField("description", m.Description)
	e.strField("name", m.Name)
	e.strField("provider", m.Provider)
	e.intPtrField("max_tokens", m.MaxTokens)
	e.floatPtrField("temperature", m.Temperature)
	e.floatPtrField("top_p", m.TopP)
	if len(m.Stop) > 0 {
		e.key("stop")
		e.b = append(e.b, '[')
		for i, s := range m.Stop {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(s)
		}
		e.b = append(e.b, ']')
	}
	e.floatPtrField("presence_penalty", m.PresencePenalty)
	e.floatPtrField("frequency_penalty", m.FrequencyPenalty)
	e.mapField("other", m.Other)
	e.strField("endpoint", m.Endpoint)
	e.close(m.Extra)
	e.written, e.n, e.track = outer, outerN, outerTrack
}

func (e *enc) providerAPIKeys(p *ProviderAPIKeys) {
	outer, outerN, outerTrack := e.written, e.n, e.track
	e.written = nil
	e.open(len(p.Extra) > 0)
	e.strField("openai", p.OpenAI)
	e.strField("ai21", p.AI21)
	e.strField("mock", p.Mock)
	e.strField("anthropic", p.Anthropic)
	e.strField("cohere", p.Cohere)
	e.strField("openai_azure", p.OpenAIAzure)
	e.strField("openai_azure_endpoint", p.OpenAIAzureEndpoint)
	e.close(p.Extra)
	e.written, e.n, e.track = outer, outerN, outerTrack
}

// common writes the fields the four request bodies share, in their order.
type commonFields struct {
	Project, ProjectID, SessionID, SessionReferenceID, ParentID, ParentReferenceID string
	Inputs                                                                         map[string]interface{}
	Source                                                                         string
	Metadata                                                                       map[string]interface{}
	ProviderAPIKeys                                                                *ProviderAPIKeys
	NumSamples                                                                     int
	Logprobs                                                                       *int
	Stream                                                                         bool
	Suffix, User                                                                   string
}

func (e *enc) common(c *commonFields) {
	e.strField("project", c.Project)
	e.strField("project_id", c.ProjectID)
	e.strField("session_id", c.SessionID)
	e.strField("session_reference_id", c.SessionReferenceID)
	e.strField("parent_id", c.ParentID)
	e.strField("parent_reference_id", c.ParentReferenceID)
	e.mapField("inputs", c.Inputs)
	e.strField("source", c.Source)
	e.mapField("metadata", c.Metadata)
	if c.ProviderAPIKeys != nil {
		e.key("provider_api_keys")
		e.providerAPIKeys(c.ProviderAPIKeys)
	}
	e.intField("num_samples", c.NumSamples)
	e.intPtrField("logprobs", c.Logprobs)
	if c.Stream {
		e.key("stream")
		e.b = append(e.b, "true"...)
	}
	e.strField("suffix", c.Suffix)
	e.strField("user", c.User)
}

func (e *enc) completionRequest(r *CompletionRequest) {
	e.open(len(r.Extra) > 0)
	e.key("model_config")
	e.modelConfig(&r.ModelConfig)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.close(r.Extra)
}

func (e *enc) completionDeployedRequest(r *CompletionDeployedRequest) {
	e.open(len(r.Extra) > 0)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.strField("environment", r.Environment)
	e.close(r.Extra)
}

func (e *enc) completionExperimentRequest(r *CompletionExperimentRequest) {
	e.open(len(r.Extra) > 0)
	e.key("experiment_id")
	e.str(r.ExperimentID)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.close(r.Extra)
}

func (e *enc) completionModelConfigRequest(r *CompletionModelConfigRequest) {
	e.open(len(r.Extra) > 0)
	e.key("model_config_id")
	e.str(r.ModelConfigID)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.close(r.Extra)
}

// finish returns the JSON (with one spare byte of capacity for the NUL the C call needs).
func (e *enc) finish() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

func newEnc() *enc { return &enc{b: make([]byte, 0, 512)} }

func (m ModelConfig) MarshalJSON() ([]byte, error) {
	e := newEnc()
	e.modelConfig(&m)
	return e.finish()
}

func (p ProviderAPIKeys) MarshalJSON() ([]byte, error) {
	e := newEnc()
	e.providerAPIKeys(&p)
	return e.finish()
}

func (r CompletionRequest) MarshalJSON() ([]byte, error) {
	e := newEnc()
	e.completionRequest(&r)
	return e.finish()
}

func (r CompletionDeployedRequest) MarshalJSON() ([]byte, error) {
	e := newEnc()
	e.completionDeployedRequest(&r)
	return e.finish()
}

func (r CompletionExperimentRequest) MarshalJSON() ([]byte, error) {
	e := newEnc()
	e.completionExperimentRequest(&r)
	return e.finish()
}

func (r CompletionModelConfigRequest) MarshalJSON() ([]byte, error) {
	e := newEnc()
	e.completionModelConfigRequest(&r)
	return e.finish()
}

// encodeTyped writes the typed requests directly; ok is false for other types.
func encodeTyped(request interface{}) (b []byte, ok bool, err error) {
	e := newEnc()
	switch r := request.(type) {
	case *CompletionRequest:
		e.completionRequest(r)
	case *CompletionDeployedRequest:
		e.completionDeployedRequest(r)
	case *CompletionExperimentRequest:
		e.completionExperimentRequest(r)
	case *CompletionModelConfigRequest:
		e.completionModelConfigRequest(r)
	default:
		return nil, false, nil
	}
	b, err = e.finish()
	return b, true, err
}
