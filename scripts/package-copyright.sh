#!/usr/bin/env bash
# Writes the machine-readable (DEP-5) copyright file of a Plumb package to
# stdout: Plumb itself (Apache-2.0) plus every Go module and the Go standard
# library statically linked into the given binaries, each with its copyright
# lines and license, as found in the module's own license file. BSD, MIT and
# other notice-style licenses are copied in full (they require it); the
# Apache-2.0 text is referenced from /usr/share/common-licenses. NOTICE files
# and further license files (LICENSE-*, for code a module embeds) are quoted.
#
# Usage: package-copyright.sh BINARY...
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: package-copyright.sh BINARY..." >&2; exit 2; }

# indent turns text into a DEP-5 continuation block: one leading space,
# "." for empty lines, tabs expanded. A full Apache License 2.0 quoted in
# a file (a third-party list may hold one) is shortened to a reference to
# the copy every Debian system has, as Debian's copyright files do.
indent() {
  expand | awk '
    /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/ && !skip {
      skip = 1; n = 0; held[++n] = $0; next
    }
    skip {
      held[++n] = $0
      if (/END OF TERMS AND CONDITIONS/) {
        print "   [The terms and conditions of the Apache License, Version 2.0:"
        print "   see /usr/share/common-licenses/Apache-2.0.]"
        skip = 0
      }
      next
    }
    { print }
    END { if (skip) for (i = 1; i <= n; i++) print held[i] }
  ' | sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /'
}

# license_name classifies a license file by its text.
license_name() {
  local f=$1 names=()
  grep -q 'Apache License' "$f" && grep -q 'Version 2\.0' "$f" && names+=(Apache-2.0)
  grep -q 'Permission is hereby granted, free of charge' "$f" && names+=(Expat)
  if grep -q 'Redistribution and use in source and binary forms' "$f"; then
    if grep -q 'Neither the name\|names of its contributors\|name of the copyright holder' "$f"; then
      names+=(BSD-3-clause)
    else
      names+=(BSD-2-clause)
    fi
  fi
  grep -q 'Mozilla Public License' "$f" && names+=(MPL-2.0)
  grep -q 'Permission to use, copy, modify, and/or distribute' "$f" && names+=(ISC)
  if [ ${#names[@]} -eq 0 ]; then
    echo other
  else
    local IFS=' '
    echo "${names[*]}" | sed 's/ / and /g'
  fi
}

# paragraph writes one Files paragraph for the tree in $dir.
paragraph() {
  local files=$1 what=$2 dir=$3
  local lic name notice copyright
  lic=$(find "$dir" -maxdepth 1 -type f -iregex '.*/\(licen[cs]e\|copying\)\(\.md\|\.txt\)?' | sort | head -1)
  if [ -z "$lic" ]; then
    # A module under several licenses, one file each (LICENSE-BSD and
    # LICENSE-MIT): the first is its License, the others are quoted below.
    lic=$(find "$dir" -maxdepth 1 -type f -iregex '.*/licen[cs]e[-_][a-z0-9.-]*' | sort | head -1)
  fi
  if [ -z "$lic" ]; then
    echo "package-copyright: no license file in $dir ($what)" >&2
    exit 1
  fi
  name=$(license_name "$lic")
  if [ "$name" = other ]; then
    echo "package-copyright: unrecognised license in $lic; its text is copied as is" >&2
  fi
  copyright=$(grep -iE '^[[:space:]]*copyright[[:space:]]+(\(c\)|©|[0-9])' "$lic" | sed 's/^[[:space:]]*//' | sort -u || true)
  [ -n "$copyright" ] || copyright="the authors of $what"
  printf 'Files: %s\n' "$files"
  printf 'Copyright: %s\n' "$(printf '%s\n' "$copyright" | sed '2,$s/^/ /')"
  printf 'Comment: %s, statically linked.\n' "$what"
  # A NOTICE file and further license files (third-party code the module
  # embeds, e.g. LICENSE-3RD-PARTY.md) are quoted in full.
  find "$dir" -maxdepth 1 -type f \( -iname 'notice*' -o -iregex '.*/\(licen[cs]e\|copying\)[-_].*' \) |
    sort | while read -r extra; do
      [ "$extra" = "$lic" ] && continue
      printf ' .\n Its file %s reads:\n .\n' "$(basename "$extra")"
      indent <"$extra"
    done
  if [ "$name" = Apache-2.0 ]; then
    printf 'License: Apache-2.0\n'
  else
    printf 'License: %s\n' "$name"
    indent <"$lic"
  fi
  printf '\n'
}

cat <<'HEADER'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: plumb
Source: https://github.com/plumb-dev/plumb

Files: *
Copyright: The Plumb Authors
License: Apache-2.0

HEADER

gover=$(go version -m "$1" | sed -n '1s/^[^:]*: *//p')
paragraph "go/src/*" "Go standard library and runtime $gover" "$(go env GOROOT)"

go version -m "$@" | awk '$1 == "dep" { print $2, $3 }' | sort -u |
  while read -r mod ver; do
    dir=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] || { echo "package-copyright: cannot find $mod@$ver" >&2; exit 1; }
    paragraph "$mod/*" "Go module $mod $ver" "$dir"
  done

cat <<'FOOTER'
License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
FOOTER
