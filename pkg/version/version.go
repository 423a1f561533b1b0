// Package version holds the build's version string, set by the linker
// (make build passes -X .../pkg/version.Version=$(git describe)).
package version

// Version is the release this binary was built from.
var Version = "dev"
