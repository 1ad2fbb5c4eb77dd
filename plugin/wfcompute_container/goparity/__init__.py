"""Go standard-library semantics the wire contract depends on.

The established implementation is written in Go, and its error texts, JSON bytes and path
handling are part of the contract: these helpers reproduce exactly what Go's `strings`,
`strconv`, `path/filepath`, `encoding/json`, `time` and `os` packages would produce.
"""
