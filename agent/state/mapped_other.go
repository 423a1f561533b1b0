//go:build !linux

package state

import bolt "go.etcd.io/bbolt"

// unsafeReleaseMapped is Linux-only (see mapped_linux.go).
func unsafeReleaseMapped(*bolt.DB, *bolt.Tx) {}
