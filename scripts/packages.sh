#!/usr/bin/env bash
# Builds the plumb-agent and plumb-collector (with plumbctl) .deb and .rpm
# packages for amd64 and arm64 into dist/, with nfpm and the configs in
# packaging/nfpm. The version comes from scripts/package-version.sh.
#
# Environment:
#   NFPM              nfpm binary (default .tools/bin/nfpm; `make packages` installs it)
#   GO                go command (default go)
#   ARCHES            Go architectures to build (default "amd64 arm64")
#   PLUMB_MAINTAINER  package maintainer, "Name <email>"
#   PLUMB_PREBUILT    use PLUMB_PREBUILT/<arch>/{plumb-agent,plumb-collector,plumbctl}
#                     instead of building them (for trying the packaging alone)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
NFPM=${NFPM:-.tools/bin/nfpm}
ARCHES=${ARCHES:-amd64 arm64}
export PLUMB_MAINTAINER=${PLUMB_MAINTAINER:-Plumb developers <dev@plumb.dev>}

PLUMB_VERSION=$(scripts/package-version.sh)
export PLUMB_VERSION
# Reproducible packages: file times are the commit's time.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export SOURCE_DATE_EPOCH

binaries=(plumb-agent plumb-collector plumbctl)
mains=(./agent/cmd/plumb-agent ./collector/cmd/plumb-collector ./collector/cmd/plumbctl)

rm -rf dist/build
rm -f dist/plumb-*.deb dist/plumb-*.rpm
mkdir -p dist/build
# check-packages.sh finds the packages by this version.
printf '%s\n' "$PLUMB_VERSION" >dist/VERSION

# A one-entry changelog (nfpm's chglog format) for this build: nfpm turns it
# into the deb's changelog.Debian.gz and the rpm's %changelog. The "-1" is
# the package revision set in packaging/nfpm/*.yaml.
cat >dist/build/changelog.yaml <<CHANGELOG
- semver: "$PLUMB_VERSION-1"
  date: "$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD)"
  packager: "$PLUMB_MAINTAINER"
  deb:
    urgency: medium
    distributions: [unstable]
  changes:
    - note: "Built from git commit $(git rev-parse HEAD)."
CHANGELOG

# Position-independent executables (ASLR, full RELRO with -bindnow): with
# CGO off they need no shared library, only the dynamic loader.
for arch in $ARCHES; do
  build=dist/build/$arch
  mkdir -p "$build/bin" "$build/man" "$build/doc/plumb-agent" "$build/doc/plumb-collector"

  if [ -n "${PLUMB_PREBUILT:-}" ]; then
    for b in "${binaries[@]}"; do
      install -m 0755 "$PLUMB_PREBUILT/$arch/$b" "$build/bin/$b"
    done
  else
    echo "packages: building ${binaries[*]} for linux/$arch"
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -buildmode=pie \
      -ldflags "-s -w -bindnow -X github.com/plumb-dev/plumb/pkg/version.Version=$PLUMB_VERSION" \
      -o "$build/bin/" "${mains[@]}"
  fi

  for b in "${binaries[@]}"; do
    gzip -9n <"packaging/man/$b.1" >"$build/man/$b.1.gz"
  done
  scripts/package-copyright.sh "$build/bin/plumb-agent" >"$build/doc/plumb-agent/copyright"
  scripts/package-copyright.sh "$build/bin/plumb-collector" "$build/bin/plumbctl" \
    >"$build/doc/plumb-collector/copyright"
  for pkg in plumb-agent plumb-collector; do
    for format in deb rpm; do
      PLUMB_ARCH=$arch PLUMB_BUILD=$build \
        "$NFPM" package --config "packaging/nfpm/$pkg.yaml" --packager "$format" --target dist/
    done
  done
done

ls -l dist/*.deb dist/*.rpm
