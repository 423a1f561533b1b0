// Package fleet compares hosts with each other rather than with their
// baselines: the facts on which two hosts differ (Diff), and the hosts
// whose value of a fact departs from a clear majority of a group
// (Outliers). Both stream each host's facts from a store.ReadTx in key
// order and keep memory bounded by the number of distinct keys, never by
// hosts × facts.
package fleet
