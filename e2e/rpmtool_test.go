package e2e

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rpmDBPath is where the rpm commands keep the database under their
// --root. Debian's rpm defaults to ~/.rpmdb, so it is always given.
const rpmDBPath = "/var/lib/rpm"

// needRPM skips the test when the rpm tools are missing.
func needRPM(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"rpm", "rpmbuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/ci-deps.sh installs Debian's rpm): %v", tool, err)
		}
	}
}

// buildRPMs builds testdata/NAME.spec for each name with rpmbuild in a
// temporary directory, and returns name -> .rpm path.
func buildRPMs(t *testing.T, names ...string) map[string]string {
	t.Helper()
	top := t.TempDir()
	out := map[string]string{}
	for _, n := range names {
		spec, err := filepath.Abs(filepath.Join("testdata", n+".spec"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("rpmbuild", "-bb", "--quiet",
			"--define", "_topdir "+top,
			"--define", "_build_id_links none",
			"--define", "_binary_payload w.ufdio",
			spec)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rpmbuild %s: %v\n%s", n, err, b)
		}
		files, _ := filepath.Glob(filepath.Join(top, "RPMS", "*", n+"-*.rpm"))
		if len(files) != 1 {
			t.Fatalf("rpmbuild %s: want one .rpm, found %v", n, files)
		}
		out[n] = files[0]
	}
	return out
}

// rpmIn runs rpm on the database under root and returns its stdout.
func rpmIn(t *testing.T, root string, args ...string) []byte {
	t.Helper()
	all := append([]string{"--root", root, "--dbpath", rpmDBPath}, args...)
	cmd := exec.Command("rpm", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm %s: %v\n%s", strings.Join(all, " "), err, stderr.String())
	}
	return out
}

func rpmInstall(t *testing.T, root string, files ...string) {
	t.Helper()
	rpmIn(t, root, append([]string{"-i", "--nodeps", "--noscripts", "--nosignature", "--ignorearch"}, files...)...)
}

// rpmQAFormat prints each package's fact key and version as the rpm
// source makes them (gpg-pubkey and arch-less packages aside, which the
// test root does not hold).
const rpmQAFormat = `%{NAME}.%{ARCH}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n`

// rpmInstalled returns key -> version for the packages in root's database.
func rpmInstalled(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(rpmIn(t, root, "-qa", "--qf", rpmQAFormat)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("rpm -qa line %q: want key<TAB>version", sc.Text())
		}
		if _, dup := out[k]; dup {
			out[k] += ", " + v
			continue
		}
		out[k] = v
	}
	return out
}

// rpmConfigFiles returns path -> hex digest for the files rpm says the
// source reports as conffiles: %config, not %ghost, regular, with a digest.
func rpmConfigFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	const format = `[%{FILENAMES}\t%{FILEFLAGS}\t%{FILEMODES}\t%{FILEDIGESTS}\n]`
	files := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(rpmIn(t, root, "-qa", "--qf", format)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			continue
		}
		flags, _ := strconv.Atoi(f[1])
		mode, _ := strconv.Atoi(f[2])
		const config, ghost = 1, 64
		if flags&config == 0 || flags&ghost != 0 || mode&0o170000 != 0o100000 || f[3] == "" {
			continue
		}
		files[f[0]] = f[3]
	}
	return files
}
