package humanloop

// The request encoders, on the writer of jsonwriter.go: the same JSON as encoding/json would write
// for the request types (field order as declared, omitempty), then the Extra members (sorted; a key
// a set field also writes is an error). The MarshalJSON methods make json.Marshal of a request use
// them too. bench/README.md has what they save over encoding/json.

// modelConfig writes a ModelConfig object (its own Extra checked against its own fields).
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

// providerAPIKeys writes a ProviderAPIKeys object (its own Extra checked against its own fields).
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

// common writes the set fields of c, in the declared order of the request types.
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

// completionRequest writes the body of Complete.
func (e *enc) completionRequest(r *CompletionRequest) {
	e.open(len(r.Extra) > 0)
	e.key("model_config")
	e.modelConfig(&r.ModelConfig)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.close(r.Extra)
}

// completionDeployedRequest writes the body of CompleteDeployed.
func (e *enc) completionDeployedRequest(r *CompletionDeployedRequest) {
	e.open(len(r.Extra) > 0)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.strField("environment", r.Environment)
	e.close(r.Extra)
}

// completionExperimentRequest writes the body of CompleteExperiment.
func (e *enc) completionExperimentRequest(r *CompletionExperimentRequest) {
	e.open(len(r.Extra) > 0)
	e.key("experiment_id")
	e.str(r.ExperimentID)
	e.common(&commonFields{r.Project, r.ProjectID, r.SessionID, r.SessionReferenceID, r.ParentID, r.ParentReferenceID,
		r.Inputs, r.Source, r.Metadata, r.ProviderAPIKeys, r.NumSamples, r.Logprobs, r.Stream, r.Suffix, r.User})
	e.close(r.Extra)
}

// completionModelConfigRequest writes the body of CompleteModelConfiguration.
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

// newEnc returns a writer with room for a typical request.
func newEnc() *enc { return &enc{b: make([]byte, 0, 512)} }

// MarshalJSON encodes the set fields, then Extra.
func (m ModelConfig) MarshalJSON() ([]byte, error) {
	if stdJSON {
		return marshalWithExtra((*plainModelConfig)(&m), m.Extra)
	}
	e := newEnc()
	e.modelConfig(&m)
	return e.finish()
}

// MarshalJSON encodes the set fields, then Extra.
func (p ProviderAPIKeys) MarshalJSON() ([]byte, error) {
	if stdJSON {
		return marshalWithExtra((*plainProviderAPIKeys)(&p), p.Extra)
	}
	e := newEnc()
	e.providerAPIKeys(&p)
	return e.finish()
}

// MarshalJSON encodes the set fields, then Extra.
func (r CompletionRequest) MarshalJSON() ([]byte, error) {
	if stdJSON {
		return marshalWithExtra((*plainCompletionRequest)(&r), r.Extra)
	}
	e := newEnc()
	e.completionRequest(&r)
	return e.finish()
}

// MarshalJSON encodes the set fields, then Extra.
func (r CompletionDeployedRequest) MarshalJSON() ([]byte, error) {
	if stdJSON {
		return marshalWithExtra((*plainCompletionDeployedRequest)(&r), r.Extra)
	}
	e := newEnc()
	e.completionDeployedRequest(&r)
	return e.finish()
}

// MarshalJSON encodes the set fields, then Extra.
func (r CompletionExperimentRequest) MarshalJSON() ([]byte, error) {
	if stdJSON {
		return marshalWithExtra((*plainCompletionExperimentRequest)(&r), r.Extra)
	}
	e := newEnc()
	e.completionExperimentRequest(&r)
	return e.finish()
}

// MarshalJSON encodes the set fields, then Extra.
func (r CompletionModelConfigRequest) MarshalJSON() ([]byte, error) {
	if stdJSON {
		return marshalWithExtra((*plainCompletionModelConfigRequest)(&r), r.Extra)
	}
	e := newEnc()
	e.completionModelConfigRequest(&r)
	return e.finish()
}

// encodeTyped writes the typed requests directly; ok is false for other types.
func encodeTyped(request interface{}) (b []byte, ok bool, err error) {
	if stdJSON {
		return stdEncodeTyped(request)
	}
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
