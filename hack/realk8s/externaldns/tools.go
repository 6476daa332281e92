//go:build tools

// Package tools pins the upstream program this module builds; nothing here is our code.
package tools

import _ "sigs.k8s.io/external-dns"
