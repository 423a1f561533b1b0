#!/usr/bin/env bash
# Prints the package version of the checked-out commit, valid for both dpkg
# and rpm, derived from `git describe`. The rule (also in packaging/README.md):
#
#   tag vX.Y.Z on HEAD                 -> X.Y.Z
#   tag vX.Y.Z-rc.1 on HEAD            -> X.Y.Z~rc.1          (sorts before X.Y.Z)
#   N commits after tag vX.Y.Z         -> X.Y.Z+git<date>.<N>.<sha>
#   no v* tag reachable                -> 0.0.0~git<date>.<N>.<sha>
#   uncommitted changes                -> any of the above + .dirty
#
# <date> is HEAD's committer date (UTC, YYYYMMDD), <N> the number of commits
# since the tag (or in all of history when there is no tag) and <sha> the
# abbreviated commit id. Date and count make later snapshots sort higher, in
# dpkg and rpm alike; "~" sorts before anything and "+" after the release.
# Hyphens in a pre-release are turned into dots: rpm forbids "-" in versions.
#
# Usage: package-version.sh [DIR]   (DIR defaults to the current directory)
set -euo pipefail

cd "${1:-.}"

sha=$(git rev-parse --short=7 HEAD)
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
dirty=""
if ! git diff --quiet HEAD -- 2>/dev/null; then
  dirty=".dirty"
fi

if desc=$(git describe --tags --long --match 'v[0-9]*' HEAD 2>/dev/null); then
  # desc = v<version>-<N>-g<sha>; <version> itself may contain hyphens.
  rest=${desc%-g*}
  count=${rest##*-}
  tag=${rest%-*}
  base=${tag#v}
  case $base in
    *-*) base="${base%%-*}~$(printf %s "${base#*-}" | tr -- '-' '.')" ;;
  esac
  if [ "$count" = 0 ]; then
    version=$base
  else
    version="$base+git$date.$count.$sha"
  fi
else
  count=$(git rev-list --count HEAD)
  version="0.0.0~git$date.$count.$sha"
fi

version="$version$dirty"
if ! printf %s "$version" | grep -Eq '^[0-9][A-Za-z0-9.+~]*$'; then
  echo "package-version: cannot turn $(git describe --tags --always 2>/dev/null) into a package version (got $version)" >&2
  exit 1
fi
printf '%s\n' "$version"
