//go:build tools

// Package tools pins the upstream program this module builds; nothing here is our code.
// github.com/jaegertracing/jaeger v1.76.0 is Jaeger v2 (cmd/jaeger: the OpenTelemetry-Collector-based
// binary with the in-memory store, OTLP receivers and the query API/UI).
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
