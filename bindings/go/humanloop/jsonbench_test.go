//go:build humanloop_jsonbench

package humanloop

import (
	"os"
	"path/filepath"
	"testing"
)

func benchItem(b *testing.B) []byte {
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "examples", "completion.response.200.json"))
	if err != nil {
		b.Fatal(err)
	}
	item := []byte(`{"ok":true,"status":200,"headers":{"content-type":"application/json","date":"x","server":"y","content-length":"544"},"body":`)
	item = append(item, body...)
	item = append(item, `,"round_trip_time":0.051,"attempts":1,"timings":{"namelookup":1e-05,"connect":0.0001,"tls":0,"pretransfer":0.0002,"starttransfer":0.05,"total":0.051}}`...)
	return item
}

func benchBoth(b *testing.B, f func()) {
	for _, std := range []bool{false, true} {
		name := "hand"
		if std {
			name = "std"
		}
		b.Run(name, func(b *testing.B) {
			SetStdJSON(std)
			defer SetStdJSON(false)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f()
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	req := &CompletionRequest{Project: "go-bench", ModelConfig: ModelConfig{Model: "gpt-test", PromptTemplate: "Say {{what}}", Temperature: Float(0.7)},
		Inputs: map[string]interface{}{"what": "hello"}}
	benchBoth(b, func() { _, _ = encodeRequest(req) })
}

func BenchmarkDecode(b *testing.B) {
	item := benchItem(b)
	benchBoth(b, func() { _, _ = decodeEnvelope(item, nil) })
}
