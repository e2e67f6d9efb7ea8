package humanloop

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeRoundTrip(t *testing.T) {
	req := &CompletionRequest{
		ModelConfig: ModelConfig{Model: "m\"\\\n\u2028<&>", PromptTemplate: "é {{x}}\x01", Description: "d", Name: "n",
			Provider: ProviderOpenAI, MaxTokens: Int(-1), Temperature: Float(0.7), TopP: Float(1), Stop: []string{"\n\n", "Text:"},
			PresencePenalty: Float(0), FrequencyPenalty: Float(1e-7), Other: map[string]interface{}{"best_of": 1.0, "x": []interface{}{"a", nil, true}},
			Endpoint: EndpointComplete},
		Project: "p", ProjectID: "pid", SessionID: "s", SessionReferenceID: "sr", ParentID: "pa", ParentReferenceID: "pr",
		Inputs: map[string]interface{}{"x": "y", "n": 2.5e300, "o": map[string]interface{}{"k": "v"}}, Source: "src",
		Metadata:        map[string]interface{}{"a": 1e21, "b": -1e-9},
		ProviderAPIKeys: &ProviderAPIKeys{OpenAI: "sk", OpenAIAzureEndpoint: "https://x"},
		NumSamples:      3, Logprobs: Int(0), Stream: true, Suffix: "suf", User: "u",
	}
	b, err := json.Marshal(req)
	if err != nil || !json.Valid(b) {
		t.Fatalf("%v %s", err, b)
	}
	var back CompletionRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, req) {
		t.Fatalf("round trip differs:\n%+v\n%+v\n%s", back, *req, b)
	}
	// the same keys in the declared order
	order := []string{`"model_config"`, `"project"`, `"project_id"`, `"session_id"`, `"session_reference_id"`, `"parent_id"`,
		`"parent_reference_id"`, `"inputs"`, `"source"`, `"metadata"`, `"provider_api_keys"`, `"num_samples"`, `"logprobs"`,
		`"stream"`, `"suffix"`, `"user"`}
	last := -1
	for _, k := range order {
		i := strings.Index(string(b), k+":")
		if i <= last {
			t.Fatalf("key %s out of order in %s", k, b)
		}
		last = i
	}
	// encoding/json's number forms
	for f, want := range map[float64]string{0.7: "0.7", 1: "1", 1e-7: "1e-7", 1e21: "1e+21", 123456789: "123456789", -0.000001: "-0.000001"} {
		e := newEnc()
		e.float(f)
		ref, _ := json.Marshal(f)
		if string(e.b) != want || string(ref) != want {
			t.Errorf("%v: %s (encoding/json %s), want %s", f, e.b, ref, want)
		}
	}
	// Extra
	req2 := &CompletionDeployedRequest{Environment: "e", Extra: map[string]json.RawMessage{"zz": json.RawMessage(`{"a":1}`), "aa": nil}}
	b, _ = json.Marshal(req2)
	if string(b) != `{"environment":"e","aa":null,"zz":{"a":1}}` {
		t.Errorf("%s", b)
	}
	if _, err := json.Marshal(&CompletionExperimentRequest{ExperimentID: "x", Extra: map[string]json.RawMessage{"experiment_id": json.RawMessage(`"y"`)}}); err == nil {
		t.Error("duplicate key accepted")
	}
}

func FuzzEncodeString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\\n\x00\x1f", "é\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := newEnc()
		e.str(s)
		var back string
		if err := json.Unmarshal(e.b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, e.b, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q -> %q", s, back)
		}
	})
}

var unescapeHTML = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

// The encoding/json variant measured against the hand-written encoder (bench/go, go-stdjson)
// writes the same JSON (up to encoding/json's HTML escaping), Extra and its errors included.
func TestStdEncodeSameJSON(t *testing.T) {
	reqs := []interface{}{
		&CompletionRequest{ModelConfig: ModelConfig{Model: "m<&>", PromptTemplate: "{{x}}", Temperature: Float(0), Stop: []string{"\n"},
			Other: map[string]interface{}{"n": 1e21}, Extra: map[string]json.RawMessage{"zz": nil}},
			Inputs: map[string]interface{}{"x": "y", "r": json.RawMessage(`[1,2]`)}, Logprobs: Int(0), Stream: true,
			ProviderAPIKeys: &ProviderAPIKeys{}, Extra: map[string]json.RawMessage{"a": json.RawMessage(`{"b":1}`)}},
		&CompletionDeployedRequest{Environment: "e"},
		&CompletionDeployedRequest{},
		&CompletionExperimentRequest{ExperimentID: "x", Metadata: map[string]interface{}{"k": nil}},
		&CompletionModelConfigRequest{ModelConfigID: "c", NumSamples: 2},
	}
	for _, r := range reqs {
		hand, _, err1 := encodeTyped(r)
		std, _, err2 := stdEncodeTyped(r)
		if err1 != nil || err2 != nil {
			t.Fatalf("%v %v", err1, err2)
		}
		var h, s interface{}
		if json.Unmarshal(hand, &h) != nil || json.Unmarshal(std, &s) != nil || !reflect.DeepEqual(h, s) {
			t.Errorf("differ:\nhand %s\nstd  %s", hand, std)
		}
		if unescapeHTML.Replace(string(std)) != string(hand) {
			t.Errorf("bytes differ:\nhand %s\nstd  %s", hand, std)
		}
	}
	dup := &CompletionExperimentRequest{ExperimentID: "x", Extra: map[string]json.RawMessage{"experiment_id": json.RawMessage(`"y"`)}}
	if _, _, err := stdEncodeTyped(dup); err == nil || !strings.Contains(err.Error(), "also set") {
		t.Errorf("duplicate key: %v", err)
	}
}
