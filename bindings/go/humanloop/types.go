package humanloop

import (
	"encoding/json"
	"net/http"
	"time"
)

// Requests mirror the v4 completions API (docs/api.md of the repository, as the official Python
// SDK 0.5.16 sends them). Only set fields are sent (omitempty); a field whose zero value means
// something (temperature 0, logprobs 0, ...) is a pointer: use Float, Int. Escape hatches:
//   - Extra (json.RawMessage values) adds keys to the object, after the typed fields;
//   - a json.RawMessage inside Inputs, Metadata or Other is sent as written;
//   - Client.Call takes any JSON-encodable request (a json.RawMessage, a map, your own struct).
// The library validates every request (unknown keys, types, enums, required fields) before
// sending; a problem comes back as *ValidationError listing every problem.

// ModelProvider values (model_config.provider).
const (
	ProviderOpenAI      = "openai"
	ProviderOpenAIAzure = "openai_azure"
	ProviderAI21        = "ai21"
	ProviderMock        = "mock"
	ProviderAnthropic   = "anthropic"
	ProviderLangchain   = "langchain"
	ProviderCohere      = "cohere"
	ProviderReplicate   = "replicate"
)

// ModelEndpoint values (model_config.endpoint).
const (
	EndpointComplete = "complete"
	EndpointChat     = "chat"
	EndpointEdit     = "edit"
)

// Float returns a pointer to v (for optional numeric fields).
func Float(v float64) *float64 { return &v }

// Int returns a pointer to v (for optional integer fields).
func Int(v int) *int { return &v }

// String returns a pointer to v (for Config.Proxy).
func String(v string) *string { return &v }

// Duration returns a pointer to v (for Config.RetryBaseDelay, RetryMaxDelay).
func Duration(v time.Duration) *time.Duration { return &v }

// ModelConfig is ModelConfigCompletionRequest: the model configuration of CompletionRequest.
type ModelConfig struct {
	Model            string                 `json:"model"`           // required
	PromptTemplate   string                 `json:"prompt_template"` // required; {{NAME}} placeholders from Inputs
	Description      string                 `json:"description,omitempty"`
	Name             string                 `json:"name,omitempty"`
	Provider         string                 `json:"provider,omitempty"` // Provider* constants
	MaxTokens        *int                   `json:"max_tokens,omitempty"`
	Temperature      *float64               `json:"temperature,omitempty"`
	TopP             *float64               `json:"top_p,omitempty"`
	Stop             []string               `json:"stop,omitempty"` // sent as an array (one string: Extra{"stop": ...})
	PresencePenalty  *float64               `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64               `json:"frequency_penalty,omitempty"`
	Other            map[string]interface{} `json:"other,omitempty"`
	Endpoint         string                 `json:"endpoint,omitempty"` // Endpoint* constants

	Extra map[string]json.RawMessage `json:"-"`
}

// ProviderAPIKeys are per-request provider keys (a key here wins over the client's).
type ProviderAPIKeys struct {
	OpenAI              string `json:"openai,omitempty"`
	AI21                string `json:"ai21,omitempty"`
	Mock                string `json:"mock,omitempty"`
	Anthropic           string `json:"anthropic,omitempty"`
	Cohere              string `json:"cohere,omitempty"`
	OpenAIAzure         string `json:"openai_azure,omitempty"`
	OpenAIAzureEndpoint string `json:"openai_azure_endpoint,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// CompletionRequest is the body of Complete (POST /completion).
type CompletionRequest struct {
	ModelConfig        ModelConfig            `json:"model_config"` // required
	Project            string                 `json:"project,omitempty"`
	ProjectID          string                 `json:"project_id,omitempty"`
	SessionID          string                 `json:"session_id,omitempty"`
	SessionReferenceID string                 `json:"session_reference_id,omitempty"`
	ParentID           string                 `json:"parent_id,omitempty"`
	ParentReferenceID  string                 `json:"parent_reference_id,omitempty"`
	Inputs             map[string]interface{} `json:"inputs,omitempty"`
	Source             string                 `json:"source,omitempty"`
	Metadata           map[string]interface{} `json:"metadata,omitempty"`
	ProviderAPIKeys    *ProviderAPIKeys       `json:"provider_api_keys,omitempty"`
	NumSamples         int                    `json:"num_samples,omitempty"`
	Logprobs           *int                   `json:"logprobs,omitempty"`
	Stream             bool                   `json:"stream,omitempty"` // Complete merges the events; see CompleteStream
	Suffix             string                 `json:"suffix,omitempty"`
	User               string                 `json:"user,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// CompletionDeployedRequest is the body of CompleteDeployed (POST /completion-deployed).
type CompletionDeployedRequest struct {
	Project            string                 `json:"project,omitempty"`
	ProjectID          string                 `json:"project_id,omitempty"`
	SessionID          string                 `json:"session_id,omitempty"`
	SessionReferenceID string                 `json:"session_reference_id,omitempty"`
	ParentID           string                 `json:"parent_id,omitempty"`
	ParentReferenceID  string                 `json:"parent_reference_id,omitempty"`
	Inputs             map[string]interface{} `json:"inputs,omitempty"`
	Source             string                 `json:"source,omitempty"`
	Metadata           map[string]interface{} `json:"metadata,omitempty"`
	ProviderAPIKeys    *ProviderAPIKeys       `json:"provider_api_keys,omitempty"`
	NumSamples         int                    `json:"num_samples,omitempty"`
	Logprobs           *int                   `json:"logprobs,omitempty"`
	Stream             bool                   `json:"stream,omitempty"`
	Suffix             string                 `json:"suffix,omitempty"`
	User               string                 `json:"user,omitempty"`
	Environment        string                 `json:"environment,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// CompletionExperimentRequest is the body of CompleteExperiment (POST /completion-experiment).
type CompletionExperimentRequest struct {
	ExperimentID       string                 `json:"experiment_id"` // required
	Project            string                 `json:"project,omitempty"`
	ProjectID          string                 `json:"project_id,omitempty"`
	SessionID          string                 `json:"session_id,omitempty"`
	SessionReferenceID string                 `json:"session_reference_id,omitempty"`
	ParentID           string                 `json:"parent_id,omitempty"`
	ParentReferenceID  string                 `json:"parent_reference_id,omitempty"`
	Inputs             map[string]interface{} `json:"inputs,omitempty"`
	Source             string                 `json:"source,omitempty"`
	Metadata           map[string]interface{} `json:"metadata,omitempty"`
	ProviderAPIKeys    *ProviderAPIKeys       `json:"provider_api_keys,omitempty"`
	NumSamples         int                    `json:"num_samples,omitempty"`
	Logprobs           *int                   `json:"logprobs,omitempty"`
	Stream             bool                   `json:"stream,omitempty"`
	Suffix             string                 `json:"suffix,omitempty"`
	User               string                 `json:"user,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// CompletionModelConfigRequest is the body of CompleteModelConfiguration
// (POST /completion-model-config).
type CompletionModelConfigRequest struct {
	ModelConfigID      string                 `json:"model_config_id"` // required
	Project            string                 `json:"project,omitempty"`
	ProjectID          string                 `json:"project_id,omitempty"`
	SessionID          string                 `json:"session_id,omitempty"`
	SessionReferenceID string                 `json:"session_reference_id,omitempty"`
	ParentID           string                 `json:"parent_id,omitempty"`
	ParentReferenceID  string                 `json:"parent_reference_id,omitempty"`
	Inputs             map[string]interface{} `json:"inputs,omitempty"`
	Source             string                 `json:"source,omitempty"`
	Metadata           map[string]interface{} `json:"metadata,omitempty"`
	ProviderAPIKeys    *ProviderAPIKeys       `json:"provider_api_keys,omitempty"`
	NumSamples         int                    `json:"num_samples,omitempty"`
	Logprobs           *int                   `json:"logprobs,omitempty"`
	Stream             bool                   `json:"stream,omitempty"`
	Suffix             string                 `json:"suffix,omitempty"`
	User               string                 `json:"user,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// CompletionResponse is the body of a 200 answer (and, with Data holding one generation's
// piece, of each stream event). null fields decode as zero values.
type CompletionResponse struct {
	Data              []DataResponse         `json:"data"`
	ProviderResponses []json.RawMessage      `json:"provider_responses"`
	ProjectID         string                 `json:"project_id,omitempty"`
	NumSamples        int                    `json:"num_samples,omitempty"`
	Logprobs          *int                   `json:"logprobs,omitempty"`
	Suffix            string                 `json:"suffix,omitempty"`
	User              string                 `json:"user,omitempty"`
	Usage             *Usage                 `json:"usage,omitempty"`
	Metadata          map[string]interface{} `json:"metadata,omitempty"`
}

// Output returns the text of the first generation ("" when there is none).
func (r *CompletionResponse) Output() string {
	if len(r.Data) == 0 {
		return ""
	}
	return r.Data[0].Output
}

// DataResponse is one generation.
type DataResponse struct {
	ID            string                 `json:"id"`
	Index         int                    `json:"index"`
	Output        string                 `json:"output"`
	RawOutput     string                 `json:"raw_output"`
	Inputs        map[string]interface{} `json:"inputs"`
	ModelConfigID string                 `json:"model_config_id"`
	FinishReason  string                 `json:"finish_reason,omitempty"` // "" while a stream is not finished
	ToolResults   []ToolResultResponse   `json:"tool_results,omitempty"`
}

// ToolResultResponse is the result of a tool run during a generation.
type ToolResultResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Result    string `json:"result"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	GenerationTokens int `json:"generation_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// HTTPValidationError is the body of a 422 answer (APIError.DecodeBody).
type HTTPValidationError struct {
	Detail []struct {
		Loc  []interface{} `json:"loc"`
		Msg  string        `json:"msg"`
		Type string        `json:"type"`
	} `json:"detail"`
}

// Timings are libcurl's per-phase times of the last attempt.
type Timings struct {
	NameLookup, Connect, TLS, PreTransfer, StartTransfer, Total time.Duration
}

type wireTimings struct {
	NameLookup    float64 `json:"namelookup"`
	Connect       float64 `json:"connect"`
	TLS           float64 `json:"tls"`
	PreTransfer   float64 `json:"pretransfer"`
	StartTransfer float64 `json:"starttransfer"`
	Total         float64 `json:"total"`
}

// Response is a successful call.
type Response struct {
	Status        int                // HTTP status (2xx)
	Headers       http.Header        // the answer's headers
	Body          CompletionResponse // the body, decoded
	RawBody       json.RawMessage    // the body exactly as the server sent it
	RoundTripTime time.Duration      // of the last attempt
	Attempts      int                // HTTP attempts made (1 when nothing was retried)
	Timings       Timings            // of the last attempt
	// Events: with Stream set in the request, every event as received (Body merges them).
	Events []json.RawMessage
}

// Output returns the text of the first generation.
func (r *Response) Output() string { return r.Body.Output() }
