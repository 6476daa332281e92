//go:build tools

// Package tools pins the upstream programs this module builds; nothing here is our code.
package tools

import (
	_ "sigs.k8s.io/kubefed/cmd/controller-manager"
	_ "sigs.k8s.io/kubefed/cmd/kubefedctl"
	_ "sigs.k8s.io/kubefed/cmd/webhook"
	_ "sigs.k8s.io/kubefed/test/e2e"
)
