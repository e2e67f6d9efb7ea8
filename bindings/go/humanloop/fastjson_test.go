package humanloop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var fastSeeds = []string{
	`{"data":[{"id":"data_0","index":0,"output":"Hello","raw_output":" Hello\n","inputs":{"a":"b","n":1.5,"o":{"x":[1,null]}},"model_config_id":"c","finish_reason":null,"tool_results":[{"id":"t","name":"n","signature":"s","result":"r"}]}],"provider_responses":[{"x":1},[],"s",null],"project_id":"p","num_samples":2,"logprobs":null,"suffix":"\u00e9\"\\","user":"u","usage":{"prompt_tokens":7,"generation_tokens":6,"total_tokens":13},"metadata":{"k":"v"},"unknown":{"deep":[{"a":"}"}]}}`,
	`{"data":[],"provider_responses":[]}`,
	`{}`,
	`{"data":null,"project_id":null,"usage":null,"metadata":{"n":1}}`,
	` { "data" : [ { "id" : "x" , "output" : "y" } ] , "num_samples" : 1 } `,
	`{"data":[{"id":"a","output":"b","index":1.0}]}`,
	`{"data":"nope"}`,
	`{"num_samples":1e400}`,
	`{"data":[{"id":"\ud83d\ude00","output":"tab\there"}]}`,
	`{"data":[{"id":"a"}],"data":[{"id":"b"}]}`,
}

// normalised: both decoders' results compared through their JSON form.
func sameAsEncodingJSON(t *testing.T, in []byte) {
	var fast CompletionResponse
	if !fastCompletionResponse(in, &fast) {
		return // falls back to encoding/json: nothing to compare
	}
	var slow CompletionResponse
	if err := json.Unmarshal(in, &slow); err != nil {
		t.Fatalf("fast path accepted what encoding/json rejects (%v): %s", err, in)
	}
	fj, _ := json.Marshal(fast)
	sj, _ := json.Marshal(slow)
	if string(fj) != string(sj) || !reflect.DeepEqual(fast.Data != nil, slow.Data != nil) {
		t.Fatalf("decoders differ on %s\nfast %s\nslow %s", in, fj, sj)
	}
}

func TestFastCompletionResponse(t *testing.T) {
	inputs := append([]string(nil), fastSeeds...)
	// The example answer of docs/api.md (this package sits in bindings/go/humanloop).
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "examples", "completion.response.200.json"))
	if err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, string(b))
	for _, in := range inputs {
		sameAsEncodingJSON(t, []byte(in))
	}
	var r CompletionResponse
	if !fastCompletionResponse([]byte(fastSeeds[0]), &r) || r.Suffix != "é\"\\" || r.Data[0].FinishReason != "" || len(r.ProviderResponses) != 4 {
		t.Fatalf("%+v", r)
	}
}

func TestFastEnvelope(t *testing.T) {
	in := []byte(`{"ok":true,"status":200,"headers":{"a":"b","c":"d\"e"},"body":{"data":[]},"round_trip_time":0.25,"attempts":2,"timings":{"namelookup":1e-05,"connect":0.1,"tls":0.0,"pretransfer":0,"starttransfer":0.2,"total":0.3},"events":[{"x":1}]}`)
	var fast, slow wireEnvelope
	if !fastEnvelope(in, &fast) {
		t.Fatal("fast path failed")
	}
	if err := json.Unmarshal(in, &slow); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("\nfast %+v\nslow %+v", fast, slow)
	}
}

func FuzzFastCompletionResponse(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			var r CompletionResponse
			_ = fastCompletionResponse(in, &r) // must not panic
			return
		}
		sameAsEncodingJSON(t, in)
	})
}
