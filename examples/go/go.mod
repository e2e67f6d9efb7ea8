module github.com/humanloop/libhumanloop/examples/go

go 1.19

require github.com/humanloop/libhumanloop/bindings/go v0.0.0

replace github.com/humanloop/libhumanloop/bindings/go => ../../bindings/go
