//go:build humanloop_jsonbench

package main

import "github.com/humanloop/libhumanloop/bindings/go/humanloop"

// Built with -tags humanloop_jsonbench: the variant "go-stdjson" (the Go binding with
// encoding/json in place of its hand-written JSON code) can be run beside "go".
func init() { setStdJSON = humanloop.SetStdJSON }
