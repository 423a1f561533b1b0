// Package rpmtest runs the real rpm tools for tests of the rpm source: it
// builds small packages from spec files, installs them into a host root,
// and asks rpm what that root holds, keyed and grouped the way the rpm
// source keys its facts, so that a test can compare the two one for one.
package rpmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// DBPath is where rpm keeps the database under --root. Debian's rpm
// defaults to ~/.rpmdb, so every command here names it.
const DBPath = "/var/lib/rpm"

// Need skips the test when the rpm tools are missing.
func Need(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/ci-deps.sh installs Debian's rpm): %v", tool, err)
		}
	}
}

// Build runs rpmbuild -bb on spec with its output under topdir. Each
// define is "macro value".
func Build(topdir, spec string, defines ...string) error {
	args := []string{"-bb", "--quiet",
		"--define", "_topdir " + topdir,
		"--define", "_build_id_links none",
		"--define", "_binary_payload w.ufdio"}
	for _, d := range defines {
		args = append(args, "--define", d)
	}
	if out, err := exec.Command("rpmbuild", append(args, spec)...).CombinedOutput(); err != nil {
		return fmt.Errorf("rpmbuild %s: %w\n%s", filepath.Base(spec), err, out)
	}
	return nil
}

// Built lists the packages built under topdir: "name-version" -> path.
func Built(topdir string) map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(topdir, "RPMS", "*", "*.rpm"))
	for _, f := range files {
		n := strings.TrimSuffix(filepath.Base(f), ".rpm") // name-version-release.arch
		out[n[:strings.LastIndex(n, "-")]] = f
	}
	return out
}

// Cmd runs rpm on the database under root and returns its stdout.
func Cmd(t testing.TB, root string, args ...string) []byte {
	t.Helper()
	all := append([]string{"--root", root, "--dbpath", DBPath}, args...)
	cmd := exec.Command("rpm", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm %s: %v\n%s", strings.Join(all, " "), err, stderr.String())
	}
	return out
}

// Install installs package files into root, without dependencies,
// scripts or signature checks.
func Install(t testing.TB, root string, files ...string) {
	t.Helper()
	Cmd(t, root, append([]string{"-i", "--nodeps", "--noscripts", "--nosignature", "--ignorearch"}, files...)...)
}

// qaFormat prints what the source's keys and versions are made of.
const qaFormat = `%{NAME}\t%{ARCH}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{VERSION}\t%{RELEASE}\n`

// Installed returns key -> version for the packages in root's database,
// as rpm -qa lists them (args come before -qa: a --define, say), keyed and
// grouped as the rpm source's package doc says.
func Installed(t testing.TB, root string, args ...string) map[string]string {
	t.Helper()
	group := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(Cmd(t, root, append(args, "-qa", "--qf", qaFormat)...)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			t.Fatalf("rpm -qa line %q: want 5 fields", sc.Text())
		}
		name, arch, evr := f[0], f[1], f[2]
		key := name + "." + arch
		switch {
		case name == "gpg-pubkey":
			key, evr = name+"-"+f[3]+"-"+f[4], f[3]+"-"+f[4]
		case arch == "(none)":
			key = name
		}
		group[key] = append(group[key], evr)
	}
	out := map[string]string{}
	for k, vs := range group {
		sort.Strings(vs)
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// File flags and mode bits as rpm prints them.
const (
	flagConfig   = 1 << 0
	flagGhost    = 1 << 6
	modeTypeMask = 0o170000
	modeRegular  = 0o100000
)

// ConfigFiles returns path -> hex digest for the files of root's packages
// that the source reports as conffiles: %config, not %ghost, regular, with
// a digest. args come before -qa.
func ConfigFiles(t testing.TB, root string, args ...string) map[string]string {
	t.Helper()
	const format = `[%{FILENAMES}\t%{FILEFLAGS}\t%{FILEMODES}\t%{FILEDIGESTS}\n]`
	files := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(Cmd(t, root, append(args, "-qa", "--qf", format)...)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			continue
		}
		flags, _ := strconv.Atoi(f[1])
		mode, _ := strconv.Atoi(f[2])
		if flags&flagConfig == 0 || flags&flagGhost != 0 || mode&modeTypeMask != modeRegular || f[3] == "" {
			continue
		}
		files[f[0]] = f[3]
	}
	return files
}
