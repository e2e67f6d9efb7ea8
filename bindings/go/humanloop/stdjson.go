package humanloop

import (
	"encoding/json"
	"fmt"
	"sort"
)

// The encoding/json way of encoding the typed requests and decoding the library's items.

// Types without methods, so that encoding/json encodes the fields (MarshalJSON adds Extra).
type (
	plainModelConfig                  ModelConfig
	plainProviderAPIKeys              ProviderAPIKeys
	plainCompletionRequest            CompletionRequest
	plainCompletionDeployedRequest    CompletionDeployedRequest
	plainCompletionExperimentRequest  CompletionExperimentRequest
	plainCompletionModelConfigRequest CompletionModelConfigRequest
)

// marshalWithExtra encodes v (one of the plain types) and appends the members of extra, sorted by
// key, after its fields. A key of extra that a set field also writes is an error.
func marshalWithExtra(v interface{}, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var written map[string]json.RawMessage
	if err := json.Unmarshal(b, &written); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if _, dup := written[k]; dup {
			return nil, fmt.Errorf("humanloop: Extra key %q is also set by a field", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = b[:len(b)-1] // the closing brace
	for _, k := range keys {
		if len(b) > 1 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		if raw := extra[k]; len(raw) > 0 {
			b = append(b, raw...)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}'), nil
}

// stdEncodeTyped is encodeTyped with encoding/json (the measurement's variant).
func stdEncodeTyped(request interface{}) (b []byte, ok bool, err error) {
	switch r := request.(type) {
	case *CompletionRequest:
		b, err = marshalWithExtra((*plainCompletionRequest)(r), r.Extra)
	case *CompletionDeployedRequest:
		b, err = marshalWithExtra((*plainCompletionDeployedRequest)(r), r.Extra)
	case *CompletionExperimentRequest:
		b, err = marshalWithExtra((*plainCompletionExperimentRequest)(r), r.Extra)
	case *CompletionModelConfigRequest:
		b, err = marshalWithExtra((*plainCompletionModelConfigRequest)(r), r.Extra)
	default:
		return nil, false, nil
	}
	return b, true, err
}
