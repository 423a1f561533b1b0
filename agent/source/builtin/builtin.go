// Package builtin links the sources the agent ships with. Adding a source
// is one package plus one line here.
package builtin

import (
	_ "github.com/plumb-dev/plumb/agent/source/dpkg"   // packages from /var/lib/dpkg/status
	_ "github.com/plumb-dev/plumb/agent/source/file"   // files, fsnotify
	_ "github.com/plumb-dev/plumb/agent/source/kernel" // /proc: release, cmdline, modules, sysctls
	_ "github.com/plumb-dev/plumb/agent/source/rpm"    // packages from the rpm database
)
