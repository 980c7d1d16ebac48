// Package regionstatus holds a test of the Region reconciler driven by hand
// against a control plane where no operator runs, so that nothing but the
// reconciler under test writes the Region's status.
package regionstatus
