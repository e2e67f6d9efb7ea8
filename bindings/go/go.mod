module github.com/humanloop/libhumanloop/bindings/go

go 1.19
