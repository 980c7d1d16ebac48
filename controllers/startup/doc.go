// Package startup holds the tests of the operator's start against a control
// plane that has no CRDs yet (controllers' own suite starts with them).
package startup
