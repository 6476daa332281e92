//go:build tools

// Package tools pins the upstream program this module builds; nothing here is our code.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
