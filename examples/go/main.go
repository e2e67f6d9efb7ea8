// An example of the Go binding: a completion, then the same prompt as a stream, with a deadline.
//
//	HUMANLOOP_API_KEY=... [HUMANLOOP_HOST=...] go run .
//	bash examples/run-against-test-server.sh build/examples/go-complete   (against the bundled test server)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/humanloop/libhumanloop/bindings/go/humanloop"
)

func main() {
	client, err := humanloop.NewClientFromEnv() // HUMANLOOP_API_KEY, HUMANLOOP_HOST
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	defer client.Close()

	req := &humanloop.CompletionRequest{
		Project: "go-example",
		ModelConfig: humanloop.ModelConfig{
			Model:          "gpt-3.5-turbo-instruct",
			PromptTemplate: "Write one sentence about {{animal}}.",
			Temperature:    humanloop.Float(0.7),
			MaxTokens:      humanloop.Int(64),
		},
		Inputs: map[string]interface{}{"animal": "llamas"},
	}

	// A call with a deadline: when it passes, the transfer is cancelled at once.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := client.Complete(ctx, req, humanloop.WithMaxRetries(1), humanloop.WithHeader("X-Request-Source", "go-example"))
	if err != nil {
		report(err)
		os.Exit(1)
	}
	fmt.Printf("complete: %q (status %d, %d attempt(s), %v, datapoint %s)\n",
		resp.Output(), resp.Status, resp.Attempts, resp.RoundTripTime.Round(time.Microsecond), resp.Body.Data[0].ID)

	// The same request as a stream: events arrive as the server sends them.
	stream := client.CompleteStream(ctx, req)
	defer stream.Close()
	fmt.Print("stream:   ")
	for stream.Next() {
		fmt.Print(stream.Event().Output())
	}
	fmt.Println()
	if err := stream.Err(); err != nil {
		report(err)
		os.Exit(1)
	}
	fmt.Printf("stream:   %d events, status %d\n", stream.Result().Events, stream.Result().Status)
}

func report(err error) {
	var apiErr *humanloop.APIError
	var invalid *humanloop.ValidationError
	switch {
	case errors.As(err, &apiErr):
		fmt.Fprintf(os.Stderr, "the server answered %d %s: %s\n", apiErr.Status, apiErr.Reason, apiErr.BodyText())
	case errors.As(err, &invalid):
		for _, p := range invalid.Problems {
			fmt.Fprintf(os.Stderr, "invalid request: %s: %s\n", p.Path, p.Message)
		}
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintln(os.Stderr, "no answer before the deadline:", err)
	default:
		fmt.Fprintln(os.Stderr, err)
	}
}
