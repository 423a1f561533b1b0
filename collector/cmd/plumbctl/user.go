package main

import (
	"errors"
	"os"
	"os/user"
)

// acceptingUser names who accepts drift, for the audit log: the user who
// ran sudo, else the current user.
func acceptingUser() (string, error) {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u, nil
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if u := os.Getenv("USER"); u != "" {
		return u, nil
	}
	return "", errors.New("cannot tell who is accepting: no SUDO_USER, no user name for this uid, no USER")
}
