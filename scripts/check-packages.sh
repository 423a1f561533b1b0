#!/usr/bin/env bash
# Checks the packages that scripts/packages.sh built into dist/, on a Debian
# machine, as root (it installs and purges the .debs on this machine):
#
#   1. the version rule of scripts/package-version.sh, in a scratch git repo,
#      and that dpkg and rpm order its versions alike;
#   2. lintian on each .deb: no error or warning that is not overridden
#      (packaging/lintian/<pkg>, shipped in the package);
#   3. rpmlint on each .rpm, run as an unprivileged user: no error or warning
#      that packaging/rpmlint/plumb.toml does not filter;
#   4. both amd64 .rpms install into a scratch root (their scriptlets run
#      there), `rpm -ql` lists exactly the expected files, the configs are
#      %config(noreplace) and erasing them works;
#   5. both amd64 .debs install, reinstall (the upgrade path) keeping an
#      edited config and the state, remove keeping config and state, and
#      purge leaving nothing behind: files, units, users, systemd state;
#   6. the systemd units pass `systemd-analyze verify` in a staged tree with
#      the packaged binaries and man pages, and their exposure scores from
#      `systemd-analyze security` stay under a ceiling (printed);
#   7. every flag in each binary's --help is in its man page and back.
#
# It goes on after a failure and exits non-zero at the end, listing every
# failed check. Needs: lintian rpmlint rpm systemd (scripts/ci-deps.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# Exposure ceilings for `systemd-analyze security` (0 best, 10 worst);
# measured 1.6 (agent) and 1.1 (collector).
agent_exposure_max=2.0
collector_exposure_max=1.2

failures=()
fail() {
  echo "FAIL: $*" >&2
  failures+=("$*")
}
step() {
  printf '\n== %s\n' "$*"
}

if [ "$(id -u)" != 0 ]; then
  echo "check-packages: must run as root (it installs and purges the .debs)" >&2
  exit 2
fi
missing=()
for tool in lintian rpmlint rpm rpm2cpio cpio systemd-analyze dpkg-deb runuser useradd man; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "check-packages: missing ${missing[*]}; run scripts/ci-deps.sh" >&2
  exit 2
fi

# The version packages.sh used (HEAD may have moved since).
version=$(cat dist/VERSION 2>/dev/null) || {
  echo "check-packages: dist/VERSION is missing; run make packages" >&2
  exit 2
}
deb_agent=dist/plumb-agent_${version}-1_amd64.deb
deb_collector=dist/plumb-collector_${version}-1_amd64.deb
rpm_agent=dist/plumb-agent-${version}-1.x86_64.rpm
rpm_collector=dist/plumb-collector-${version}-1.x86_64.rpm
debs=("$deb_agent" "$deb_collector" "dist/plumb-agent_${version}-1_arm64.deb" "dist/plumb-collector_${version}-1_arm64.deb")
rpms=("$rpm_agent" "$rpm_collector" "dist/plumb-agent-${version}-1.aarch64.rpm" "dist/plumb-collector-${version}-1.aarch64.rpm")
for f in "${debs[@]}" "${rpms[@]}"; do
  if [ ! -f "$f" ]; then
    echo "check-packages: $f is missing; run make packages" >&2
    exit 2
  fi
done

work=$(mktemp -d /tmp/plumb-check-packages.XXXXXX)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

# lintian and rpmlint run as this unprivileged user: rpmlint unpacks nfpm's
# absolute cpio paths, which as root would land in the real /.
ciuser=plumbci
if ! getent passwd "$ciuser" >/dev/null; then
  useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$ciuser"
fi
mkdir -p "$work/home" "$work/lint"
cp "${debs[@]}" "${rpms[@]}" packaging/rpmlint/plumb.toml "$work/lint/"
chmod -R a+rX "$work/lint"
chown "$ciuser" "$work/home"
as_ci() {
  runuser -u "$ciuser" -- env HOME="$work/home" PATH="$work/shim:$PATH" "$@"
}

# ---------------------------------------------------------------------------
step "version rule (scripts/package-version.sh)"
vr=$work/version-repo
git init -q "$vr"
vgit() {
  GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1" git -C "$vr" \
    -c user.name=ci -c user.email=ci@example.invalid -c commit.gpgsign=false -c tag.gpgsign=false \
    "${@:2}"
}
pkgver() { scripts/package-version.sh "$vr"; }
expect_version() {
  local what=$1 pattern=$2 got
  got=$(pkgver) || { fail "version rule: $what: package-version.sh failed"; return; }
  if [[ $got =~ ^$pattern$ ]]; then
    echo "ok: $what -> $got"
  else
    fail "version rule: $what: got $got, want /^$pattern\$/"
  fi
  versions+=("$got")
}
versions=()
echo a >"$vr/f"
vgit "2024-01-02T10:00:00Z" add f
vgit "2024-01-02T10:00:00Z" commit -qm one
expect_version "no tag" '0\.0\.0~git20240102\.1\.[0-9a-f]{7}'
echo b >"$vr/f"
vgit "2024-01-03T10:00:00Z" commit -qam two
expect_version "no tag, later commit" '0\.0\.0~git20240103\.2\.[0-9a-f]{7}'
vgit "2024-01-03T10:00:00Z" tag -a v1.2.3 -m v1.2.3
expect_version "tag v1.2.3" '1\.2\.3'
echo c >"$vr/f"
vgit "2024-01-04T10:00:00Z" commit -qam three
expect_version "1 commit after v1.2.3" '1\.2\.3\+git20240104\.1\.[0-9a-f]{7}'
echo d >"$vr/f"
vgit "2024-01-05T10:00:00Z" commit -qam four
vgit "2024-01-05T10:00:00Z" tag v2.0.0-rc-1
expect_version "tag v2.0.0-rc-1" '2\.0\.0~rc\.1'
echo e >"$vr/f"
vgit "2024-01-06T10:00:00Z" commit -qam five
vgit "2024-01-06T10:00:00Z" tag v2.0.0
expect_version "tag v2.0.0" '2\.0\.0'
echo dirty >"$vr/f"
expect_version "uncommitted change" '2\.0\.0\.dirty'
# Each version must sort above the one before, for dpkg and for rpm (the
# dirty build aside: it is not a release).
for ((i = 1; i < ${#versions[@]} - 1; i++)); do
  a=${versions[i - 1]} b=${versions[i]}
  dpkg --compare-versions "$a" lt "$b" || fail "version rule: dpkg does not sort $a before $b"
  cmp=$(rpm --eval "%{lua: print(rpm.vercmp('$a', '$b'))}")
  [ "$cmp" = -1 ] || fail "version rule: rpm does not sort $a before $b (vercmp $cmp)"
done

# ---------------------------------------------------------------------------
step "lintian"
if as_ci lintian --pedantic --display-info --fail-on error,warning "$work"/lint/*.deb; then
  echo "ok: lintian"
else
  fail "lintian reported errors or warnings (above)"
fi

# ---------------------------------------------------------------------------
step "rpmlint"
# rpmlint extracts with `cpio -id`; nfpm's payload has absolute paths, so
# give it a cpio that keeps them under its scratch directory.
mkdir -p "$work/shim"
printf '#!/bin/sh\nexec %s --no-absolute-filenames "$@"\n' "$(command -v cpio)" >"$work/shim/cpio"
chmod 0755 "$work/shim/cpio"
out=$(cd "$work/lint" && as_ci rpmlint -c "$work/lint/plumb.toml" "$work"/lint/*.rpm 2>&1)
echo "$out"
summary=$(printf '%s\n' "$out" | grep -E 'packages and [0-9]+ specfiles checked' || true)
if [[ $summary =~ ([0-9]+)\ errors,\ ([0-9]+)\ warnings ]] &&
  [ "${BASH_REMATCH[1]}" = 0 ] && [ "${BASH_REMATCH[2]}" = 0 ]; then
  echo "ok: rpmlint"
else
  fail "rpmlint: ${summary:-no summary line}"
fi

# ---------------------------------------------------------------------------
step "rpm install into a scratch root"
root=$work/rpmroot
# The scriptlets run chrooted in $root: give them a shell and the few
# commands they use, with their libraries.
copy_with_libs() {
  local bin lib
  for bin in "$@"; do
    bin=$(command -v "$bin") || { fail "rpm root: $1 not found"; return; }
    mkdir -p "$root$(dirname "$bin")"
    cp -L "$bin" "$root$bin"
    for lib in $(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+'); do
      mkdir -p "$root$(dirname "$lib")"
      cp -Ln "$lib" "$root$lib"
    done
  done
}
mkdir -p "$root/etc" "$root/bin" "$root/dev" "$root/tmp" "$root/var/tmp"
mknod -m 0666 "$root/dev/null" c 1 3 2>/dev/null || install -m 0666 /dev/null "$root/dev/null"
copy_with_libs sh getent groupadd useradd
[ -e "$root/bin/sh" ] || ln -s "$(command -v sh)" "$root/bin/sh"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"
cp /etc/login.defs "$root/etc/login.defs"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
rpmr() { rpm --root "$root" --dbpath /var/lib/rpm "$@"; }
rpmr --initdb
if rpmr -i --nodeps "$rpm_agent" "$rpm_collector"; then
  echo "ok: rpm -i"
  expect_rpm_files() {
    local pkg=$1 want got
    want=$(sort)
    got=$(rpmr -ql "$pkg" | sort)
    if [ "$got" = "$want" ]; then
      echo "ok: rpm -ql $pkg"
    else
      fail "rpm -ql $pkg differs from the expected list"
      diff <(echo "$want") <(echo "$got") | sed 's/^/    /' >&2
    fi
  }
  expect_rpm_files plumb-agent <<'EOF'
/etc/plumb
/etc/plumb/agent.yaml
/usr/bin/plumb-agent
/usr/lib/systemd/system/plumb-agent.service
/usr/share/licenses/plumb-agent/LICENSE
/usr/share/licenses/plumb-agent/copyright
/usr/share/man/man1/plumb-agent.1.gz
/var/lib/plumb
/var/lib/plumb/agent
EOF
  expect_rpm_files plumb-collector <<'EOF'
/etc/plumb
/etc/plumb/collector.yaml
/usr/bin/plumb-collector
/usr/bin/plumbctl
/usr/lib/systemd/system/plumb-collector.service
/usr/share/licenses/plumb-collector/LICENSE
/usr/share/licenses/plumb-collector/copyright
/usr/share/man/man1/plumb-collector.1.gz
/usr/share/man/man1/plumbctl.1.gz
/var/lib/plumb
/var/lib/plumb/collector
EOF
  # File flags: config + noreplace for the YAML, doc for man pages,
  # license for the license files; owners from the package.
  for pkg in agent collector; do
    user=plumb
    [ $pkg = agent ] && user=plumb-agent
    attrs=$(rpmr -q --qf '[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:octal}\n]' "plumb-$pkg")
    expect_attr() {
      grep -qxF "$1" <<<"$attrs" || fail "rpm plumb-$pkg: want \"$1\", have: $(grep -F "${1%% *} " <<<"$attrs")"
    }
    expect_attr "/etc/plumb/$pkg.yaml cn root:$user 100640"
    expect_attr "/var/lib/plumb/$pkg  $user:$user 40700"
    expect_attr "/usr/share/man/man1/plumb-$pkg.1.gz d root:root 100644"
    expect_attr "/usr/share/licenses/plumb-$pkg/LICENSE l root:root 100644"
    expect_attr "/usr/bin/plumb-$pkg  root:root 100755"
    # %pre created the user in the scratch root, so rpm could give it
    # the state directory.
    uid=$(grep "^$user:" "$root/etc/passwd" | cut -d: -f3)
    if [ -z "$uid" ]; then
      fail "rpm %pre: no user $user in the scratch root"
    elif [ "$(stat -c %u "$root/var/lib/plumb/$pkg")" != "$uid" ]; then
      fail "rpm: /var/lib/plumb/$pkg is not owned by $user (uid $uid)"
    fi
  done
  if rpmr -e plumb-agent plumb-collector; then
    echo "ok: rpm -e"
    left=$(rpmr -qa | grep plumb || true)
    [ -z "$left" ] || fail "rpm -e left $left installed"
  else
    fail "rpm -e plumb-agent plumb-collector failed"
  fi
else
  fail "rpm --root -i --nodeps of the amd64 rpms failed"
fi

# ---------------------------------------------------------------------------
step "dpkg install, reinstall, remove, purge"
# What the packages may leave on this machine: their files, the state and
# config directories, systemd enable/mask state, users and dpkg records.
owned_paths() {
  local deb
  for deb in "$deb_agent" "$deb_collector"; do
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's#^\./#/#; s#/$##' | grep plumb
  done | sort -u
}
snapshot() {
  local p
  for p in $(owned_paths) /etc/plumb /var/lib/plumb; do
    [ -e "$p" ] || [ -L "$p" ] || continue
    find "$p" -printf '%p %M %u:%g\n'
  done
  find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
    /var/lib/systemd/deb-systemd-helper-masked -name '*plumb*' -printf '%p %l\n' 2>/dev/null
  getent passwd plumb plumb-agent
  getent group plumb plumb-agent
  dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' plumb-agent plumb-collector 2>/dev/null
  true
}
installed=$(dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' plumb-agent plumb-collector 2>/dev/null | grep -v ' un *$' || true)
if [ -n "$installed" ]; then
  fail "dpkg: plumb packages are already on this machine ($installed); not touching them"
else
  before=$(snapshot | sort)
  expect_stat() {
    local path=$1 want=$2 got
    got=$(stat -c '%U:%G %a' "$path" 2>/dev/null)
    [ "$got" = "$want" ] || fail "dpkg: $path is '$got', want '$want'"
  }
  if DEBIAN_FRONTEND=noninteractive dpkg -i "$deb_agent" "$deb_collector"; then
    echo "ok: dpkg -i"
    getent passwd plumb | grep -q ':/usr/sbin/nologin$' || fail "dpkg: no system user plumb with a nologin shell"
    getent passwd plumb-agent | grep -q ':/usr/sbin/nologin$' || fail "dpkg: no system user plumb-agent with a nologin shell"
    expect_stat /var/lib/plumb/collector "plumb:plumb 700"
    expect_stat /var/lib/plumb/agent "plumb-agent:plumb-agent 700"
    expect_stat /etc/plumb/collector.yaml "root:plumb 640"
    expect_stat /etc/plumb/agent.yaml "root:plumb-agent 640"
    for pkg in agent collector; do
      dpkg-query -W -f '${Conffiles}\n' "plumb-$pkg" | grep -q "^ /etc/plumb/$pkg.yaml " ||
        fail "dpkg: /etc/plumb/$pkg.yaml is not a conffile of plumb-$pkg"
      [ -L "/etc/systemd/system/multi-user.target.wants/plumb-$pkg.service" ] ||
        fail "dpkg: plumb-$pkg.service was not enabled"
    done
    for bin in plumb-agent plumb-collector plumbctl; do
      "/usr/bin/$bin" --help >/dev/null 2>&1 || fail "dpkg: /usr/bin/$bin --help failed"
    done

    # Upgrade path (postinst configure <old-version>): an edited config and
    # the state survive.
    echo "# edited by check-packages" >>/etc/plumb/collector.yaml
    echo keep >/var/lib/plumb/collector/check-packages
    if DEBIAN_FRONTEND=noninteractive dpkg -i "$deb_agent" "$deb_collector"; then
      echo "ok: dpkg -i again (upgrade path)"
      grep -q '^# edited by check-packages$' /etc/plumb/collector.yaml || fail "dpkg upgrade: lost the edit to /etc/plumb/collector.yaml"
      [ -f /var/lib/plumb/collector/check-packages ] || fail "dpkg upgrade: lost /var/lib/plumb/collector"
      expect_stat /etc/plumb/collector.yaml "root:plumb 640"
    else
      fail "dpkg -i over the installed packages failed"
    fi

    # Remove: binaries and units go; config, state and users stay.
    if dpkg --remove plumb-agent plumb-collector; then
      echo "ok: dpkg --remove"
      for p in /usr/bin/plumb-agent /usr/bin/plumb-collector /usr/bin/plumbctl \
        /lib/systemd/system/plumb-agent.service /lib/systemd/system/plumb-collector.service; do
        [ ! -e "$p" ] || fail "dpkg --remove left $p"
      done
      for p in /etc/plumb/agent.yaml /etc/plumb/collector.yaml /var/lib/plumb/collector/check-packages; do
        [ -e "$p" ] || fail "dpkg --remove deleted $p (kept until purge)"
      done
      getent passwd plumb >/dev/null || fail "dpkg --remove deleted the user plumb (kept until purge)"
    else
      fail "dpkg --remove failed"
    fi
  else
    fail "dpkg -i of the amd64 debs failed"
  fi
  if dpkg --purge plumb-agent plumb-collector; then
    echo "ok: dpkg --purge"
  else
    fail "dpkg --purge failed"
  fi
  after=$(snapshot | sort)
  if [ "$before" = "$after" ]; then
    echo "ok: nothing left behind after purge"
  else
    fail "dpkg --purge left the machine different (< before, > after):"
    diff <(echo "$before") <(echo "$after") | sed 's/^/    /' >&2
  fi
fi

# ---------------------------------------------------------------------------
step "systemd units"
# A staged tree: the packaged files, and the targets and slices the units
# refer to (PID 1 here need not be systemd, so nothing is loaded from it).
stage=$work/stage
mkdir -p "$stage"
dpkg-deb -x "$deb_agent" "$stage"
dpkg-deb -x "$deb_collector" "$stage"
cp /lib/systemd/system/*.target /lib/systemd/system/*.slice "$stage/lib/systemd/system/"
for unit in plumb-agent plumb-collector; do
  # verify reports bad settings on stderr but exits 0 for many of them:
  # any output is a failure. MANPATH lets it check Documentation=.
  out=$(MANPATH=$stage/usr/share/man SYSTEMD_LOG_COLOR=0 \
    systemd-analyze verify --root="$stage" "$unit.service" 2>&1)
  rc=$?
  if [ $rc = 0 ] && [ -z "$out" ]; then
    echo "ok: systemd-analyze verify $unit.service"
  else
    fail "systemd-analyze verify $unit.service (exit $rc): $out"
  fi
done
for unit in plumb-agent plumb-collector; do
  max=$agent_exposure_max
  [ $unit = plumb-collector ] && max=$collector_exposure_max
  out=$(systemd-analyze security --offline=true --root="$stage" "$unit.service" 2>&1)
  printf '%s\n' "$out" | grep -F '✗' || true
  score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -z "$score" ]; then
    fail "systemd-analyze security $unit.service: no score: $out"
  elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
    echo "ok: $unit.service exposure $score (ceiling $max)"
  else
    fail "$unit.service exposure $score is above its ceiling $max"
  fi
done

# ---------------------------------------------------------------------------
step "man pages match --help"
# flags_in reads text and prints the long options it names.
flags_in() {
  sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sort -u
}
# help_text prints the help of bin and of each of its cobra-style
# subcommands, at any depth (plumbctl token create).
help_text() {
  local bin=$1 cmd
  shift
  "$bin" "$@" --help 2>&1
  for cmd in $("$bin" "$@" --help 2>&1 | sed -n '/^Available Commands:/,/^$/p' | awk 'NR > 1 && $1 != "help" { print $1 }'); do
    help_text "$bin" "$@" "$cmd"
  done
}
for bin in plumb-agent plumb-collector plumbctl; do
  from_help=$(help_text "$stage/usr/bin/$bin" | flags_in)
  from_man=$(zcat "$stage/usr/share/man/man1/$bin.1.gz" | flags_in)
  if [ -z "$from_help" ]; then
    fail "$bin --help names no --flag"
  elif [ "$from_help" = "$from_man" ]; then
    echo "ok: $bin: $(echo $from_help)"
  else
    fail "$bin: --help and $bin(1) name different flags (< --help, > man page)"
    diff <(echo "$from_help") <(echo "$from_man") | grep '^[<>]' | sed 's/^/    /' >&2
  fi
done

# ---------------------------------------------------------------------------
echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "check-packages: ${#failures[@]} check(s) failed:" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-packages: all checks passed"
