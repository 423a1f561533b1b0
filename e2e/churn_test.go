package e2e

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/plumb-dev/plumb/pkg/fact"
)

// churn is a seeded random workload on a watched tree: the changes real
// hosts make, as fast as the test can make them. It keeps a model of the
// tree (to choose valid targets without reading the disk) and a journal of
// every step it took on every path, to explain a divergence later. The
// disk, not the model, is what Plumb is held to.
//
// The same seed gives the same sequence of steps; how they interleave
// with the agent's reading of them does not repeat.
type churn struct {
	rng   *rand.Rand
	root  string
	op    int             // the op being run, from 1
	step  int             // journal entries so far
	kinds map[string]byte // path → kindFile, kindDir or kindLink; root excluded
	files pathSet
	dirs  pathSet // root excluded
	links pathSet
	// inodes holds, for every regular file, the names of its inode: a
	// change through one hard link is a change to all of them.
	inodes map[string]*inode
	// journal holds what happened to each path, by fact.Display key.
	journal map[string][]entry
	// marks are things that happened to the whole rig (faults), in step
	// order.
	marks []entry
	ran   map[string]int // ops run, by name
	// The tree keeps about its first size: below target files, ops that
	// shrink it are chosen half as often, above it ops that grow it; past
	// maxFiles or maxDirs, ops that grow it are not chosen at all.
	target, maxFiles, maxDirs int
}

const (
	kindFile = 'f'
	kindDir  = 'd'
	kindLink = 'l'
)

type inode struct{ names []string }

// entry is one journaled step.
type entry struct {
	step int
	op   int
	at   time.Time
	what string
	// from is, for a rename onto this path, the path it came from: its
	// history (and its subtree's) continues there.
	from string
}

// errSkip says an op found no fitting target; another is chosen.
var errSkip = errors.New("no target for this op")

func newChurn(root string, seed uint64) (*churn, error) {
	w := &churn{
		rng:     rand.New(rand.NewPCG(seed, 0x0c4a5e)),
		root:    root,
		kinds:   map[string]byte{},
		inodes:  map[string]*inode{},
		journal: map[string][]entry{},
		ran:     map[string]int{},
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		switch d.Type() {
		case 0:
			w.addFile(p, nil)
		case fs.ModeDir:
			w.add(p, kindDir)
		case fs.ModeSymlink:
			w.add(p, kindLink)
		default:
			return fmt.Errorf("%s: unexpected file type %v", p, d.Type())
		}
		return nil
	})
	w.target = w.files.len()
	w.maxFiles, w.maxDirs = 3*w.files.len()+50, 3*w.dirs.len()+20
	return w, err
}

// The ops and how often each is chosen.
var churnOps = []struct {
	name   string
	weight int
	size   int // +1 if the op grows the tree, -1 if it shrinks it
	run    func(*churn) error
}{
	{"rewrite", 12, 0, (*churn).opRewrite},
	{"rewrite-same", 5, 0, (*churn).opRewriteSame},
	{"append", 5, 0, (*churn).opAppend},
	{"truncate", 4, 0, (*churn).opTruncate},
	{"chmod", 6, 0, (*churn).opChmod},
	{"chown", 4, 0, (*churn).opChown},
	{"create", 7, +1, (*churn).opCreate},
	{"remove", 5, -1, (*churn).opRemove},
	{"dpkg", 8, 0, (*churn).opDpkg},
	{"rpm", 4, 0, (*churn).opRPM},
	{"editor", 6, 0, (*churn).opEditor},
	{"flash", 6, 0, (*churn).opFlash},
	{"mkdir-tree", 3, +1, (*churn).opMkdirTree},
	{"rename-dir", 2, 0, (*churn).opRenameDir},
	{"rm-tree", 2, -1, (*churn).opRmTree},
	{"flash-dir", 3, 0, (*churn).opFlashDir},
	{"symlink", 3, +1, (*churn).opSymlink},
	{"retarget", 3, 0, (*churn).opRetarget},
	{"hardlink", 2, +1, (*churn).opHardlink},
	{"file-to-dir", 2, -1, (*churn).opFileToDir},
	{"dir-to-file", 2, -1, (*churn).opDirToFile},
	{"flip", 2, 0, (*churn).opFlip},
	{"rename", 4, -1, (*churn).opRename},
	{"odd-name", 2, +1, (*churn).opOddName},
}

var churnWeight = func() int {
	n := 0
	for _, o := range churnOps {
		n += o.weight
	}
	return n
}()

// next runs one op, chosen at random among those that find a target.
func (w *churn) next() error {
	w.op++
	for {
		k := w.rng.IntN(churnWeight)
		i := 0
		for k >= churnOps[i].weight {
			k -= churnOps[i].weight
			i++
		}
		o := churnOps[i]
		n := w.files.len()
		switch {
		case o.size > 0 && (n > w.maxFiles || w.dirs.len() > w.maxDirs):
			continue
		case o.size > 0 && n > w.target && w.rng.IntN(2) == 0:
			continue
		case o.size < 0 && n < w.target && w.rng.IntN(2) == 0:
			continue
		}
		err := o.run(w)
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return fmt.Errorf("op %d (%s): %w", w.op, o.name, err)
		}
		w.ran[o.name]++
		return nil
	}
}

// mark journals something that happened to the whole rig.
func (w *churn) mark(format string, args ...any) {
	w.step++
	w.marks = append(w.marks, entry{step: w.step, op: w.op, at: time.Now(), what: fmt.Sprintf(format, args...)})
}

// --- the ops ---

func (w *churn) opRewrite() error {
	f, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	return w.write(f, w.content(), "rewrite")
}

func (w *churn) opRewriteSame() error {
	f, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	return w.write(f, b, "rewrite with the same content (no drift)")
}

func (w *churn) opAppend() error {
	f, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	b := w.content()
	h, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = h.Write(b)
	if err2 := h.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	w.noteInode(f, "append %d bytes", len(b))
	return nil
}

func (w *churn) opTruncate() error {
	f, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	fi, err := os.Stat(f)
	if err != nil {
		return err
	}
	n := int64(0)
	if w.rng.IntN(2) == 0 {
		n = fi.Size() / 2
	}
	if err := os.Truncate(f, n); err != nil {
		return err
	}
	w.noteInode(f, "truncate %d → %d bytes", fi.Size(), n)
	return nil
}

var (
	fileModes = []uint32{0o644, 0o600, 0o640, 0o755, 0o700, 0o444, 0o666, 0o750, 0o4755, 0o2755, 0o1644}
	dirModes  = []uint32{0o755, 0o700, 0o750, 0o711, 0o1777, 0o555, 0o2775}
	owners    = []int{0, 1, 2, 100, 1000, 65534}
)

func (w *churn) opChmod() error {
	if p, ok := w.dirs.pick(w.rng); ok && w.rng.IntN(4) == 0 {
		return w.chmod(p, dirModes[w.rng.IntN(len(dirModes))])
	}
	f, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	return w.chmod(f, fileModes[w.rng.IntN(len(fileModes))])
}

func (w *churn) opChown() error {
	var p string
	var ok bool
	switch w.rng.IntN(6) {
	case 0:
		p, ok = w.dirs.pick(w.rng)
	case 1:
		p, ok = w.links.pick(w.rng)
	default:
		p, ok = w.files.pick(w.rng)
	}
	if !ok {
		return errSkip
	}
	return w.chown(p, owners[w.rng.IntN(len(owners))], owners[w.rng.IntN(len(owners))])
}

func (w *churn) opCreate() error {
	p := w.newPath(w.pickDir(true))
	if err := w.write(p, w.content(), "create"); err != nil {
		return err
	}
	if w.rng.IntN(3) == 0 {
		return w.chmod(p, fileModes[w.rng.IntN(len(fileModes))])
	}
	return nil
}

func (w *churn) opRemove() error {
	p, ok := w.files.pick(w.rng)
	if w.rng.IntN(5) == 0 {
		p, ok = w.links.pick(w.rng)
	}
	if !ok {
		return errSkip
	}
	return w.remove(p)
}

// opDpkg installs a file as dpkg does: the new version is unpacked beside
// it as .dpkg-new, the old one kept as a .dpkg-tmp hard link while the new
// one is renamed over it, then the backup removed. Sometimes the conffile
// was changed locally and the new version is left as .dpkg-dist.
func (w *churn) opDpkg() error {
	p, ok := w.files.pick(w.rng)
	if !ok || w.rng.IntN(5) == 0 {
		p = w.newPath(w.pickDir(true)) // a fresh install
	}
	if w.rng.IntN(10) == 0 {
		return w.write(p+".dpkg-dist", w.content(), "dpkg: new conffile version kept aside")
	}
	nw, tmp := p+".dpkg-new", p+".dpkg-tmp"
	if w.exists(nw) || w.exists(tmp) {
		return errSkip
	}
	if err := w.write(nw, w.content(), "dpkg: unpack"); err != nil {
		return err
	}
	if w.rng.IntN(2) == 0 {
		if err := w.chmod(nw, fileModes[w.rng.IntN(len(fileModes))]); err != nil {
			return err
		}
	}
	backup := w.kinds[p] == kindFile
	if backup {
		if err := w.link(p, tmp); err != nil {
			return err
		}
	}
	if err := w.rename(nw, p); err != nil {
		return err
	}
	if backup {
		return w.remove(tmp)
	}
	return nil
}

// opRPM replaces a file as rpm does (a "name;hex" temp renamed over it),
// or leaves a .rpmnew beside it, or moves it to .rpmsave and writes anew.
func (w *churn) opRPM() error {
	p, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	switch w.rng.IntN(4) {
	case 0:
		if k := w.kinds[p+".rpmnew"]; k != 0 && k != kindFile {
			return errSkip
		}
		return w.write(p+".rpmnew", w.content(), "rpm: new config kept aside")
	case 1:
		if k := w.kinds[p+".rpmsave"]; k != 0 && k != kindFile {
			return errSkip
		}
		if err := w.rename(p, p+".rpmsave"); err != nil {
			return err
		}
		return w.write(p, w.content(), "rpm: install after saving the old config")
	}
	tmp := fmt.Sprintf("%s;%08x", p, w.rng.Uint32())
	if w.exists(tmp) {
		return errSkip
	}
	if err := w.write(tmp, w.content(), "rpm: unpack"); err != nil {
		return err
	}
	return w.rename(tmp, p)
}

// opEditor saves a file as vim does (probe file, swap file, backup by
// rename, write anew) or as sed -i does (a temp file renamed over it).
func (w *churn) opEditor() error {
	p, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	dir, base := filepath.Dir(p), filepath.Base(p)
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return err
	}
	mode := st.Mode & 0o7777
	if w.rng.IntN(2) == 0 {
		tmp := filepath.Join(dir, fmt.Sprintf("sed%06x", w.rng.IntN(1<<24)))
		if w.exists(tmp) {
			return errSkip
		}
		if err := w.write(tmp, w.content(), "sed -i: temp"); err != nil {
			return err
		}
		if err := w.chmod(tmp, mode); err != nil {
			return err
		}
		return w.rename(tmp, p)
	}
	probe, swp, backup := filepath.Join(dir, "4913"), filepath.Join(dir, "."+base+".swp"), p+"~"
	if w.exists(probe) || w.exists(swp) || (w.exists(backup) && w.kinds[backup] != kindFile) {
		return errSkip
	}
	if err := w.write(swp, w.content(), "vim: swap file"); err != nil {
		return err
	}
	if err := w.write(probe, nil, "vim: probe"); err != nil {
		return err
	}
	if err := w.remove(probe); err != nil {
		return err
	}
	if err := w.rename(p, backup); err != nil {
		return err
	}
	if err := w.write(p, w.content(), "vim: write"); err != nil {
		return err
	}
	if err := w.chmod(p, mode); err != nil {
		return err
	}
	if err := w.remove(swp); err != nil {
		return err
	}
	if w.rng.IntN(2) == 0 {
		return w.remove(backup)
	}
	return nil
}

// opFlash writes a file and deletes it within a millisecond.
func (w *churn) opFlash() error {
	p := w.newPath(w.pickDir(true))
	if err := w.write(p, w.content(), "flash"); err != nil {
		return err
	}
	if w.rng.IntN(3) == 0 {
		if err := w.write(p, w.content(), "flash again"); err != nil {
			return err
		}
	}
	return w.remove(p)
}

func (w *churn) opMkdirTree() error {
	parent := w.pickDir(true)
	if w.depth(parent) > 3 {
		return errSkip
	}
	d := w.newPath(parent)
	return w.fillDir(d)
}

// fillDir makes directory d with a few files and, sometimes, a
// subdirectory with one.
func (w *churn) fillDir(d string) error {
	if err := w.mkdir(d, dirModes[w.rng.IntN(3)]); err != nil {
		return err
	}
	for range 1 + w.rng.IntN(5) {
		if err := w.write(w.newPath(d), w.content(), "fill"); err != nil {
			return err
		}
	}
	if w.rng.IntN(3) == 0 {
		sub := w.newPath(d)
		if err := w.mkdir(sub, 0o755); err != nil {
			return err
		}
		return w.write(w.newPath(sub), w.content(), "fill")
	}
	return nil
}

func (w *churn) opRenameDir() error {
	src, ok := w.dirs.pick(w.rng)
	if !ok {
		return errSkip
	}
	parent := w.pickDir(true)
	if withinOrSame(parent, src) || w.depth(parent) > 3 {
		return errSkip
	}
	return w.rename(src, w.newPath(parent))
}

func (w *churn) opRmTree() error {
	d, ok := w.pickSmallDir()
	if !ok {
		return errSkip
	}
	return w.removeAll(d)
}

// pickSmallDir returns a directory to remove: mostly one with a few
// entries, now and then any, so that the tree keeps its size.
func (w *churn) pickSmallDir() (string, bool) {
	for range 4 {
		d, ok := w.dirs.pick(w.rng)
		if !ok {
			return "", false
		}
		if w.rng.IntN(16) == 0 || len(w.subtree(d)) <= 8 {
			return d, true
		}
	}
	return "", false
}

// opFlashDir makes a directory, fills it and removes it at once.
func (w *churn) opFlashDir() error {
	d := w.newPath(w.pickDir(true))
	if err := w.fillDir(d); err != nil {
		return err
	}
	return w.removeAll(d)
}

func (w *churn) opSymlink() error {
	p := w.newPath(w.pickDir(true))
	return w.symlink(w.linkTarget(filepath.Dir(p)), p)
}

// opRetarget points a symlink elsewhere, as ln -sfn does (a new link
// renamed over it) or by removing and recreating it.
func (w *churn) opRetarget() error {
	l, ok := w.links.pick(w.rng)
	if !ok {
		return errSkip
	}
	target := w.linkTarget(filepath.Dir(l))
	if w.rng.IntN(2) == 0 {
		if err := w.remove(l); err != nil {
			return err
		}
		return w.symlink(target, l)
	}
	tmp := w.newPath(filepath.Dir(l))
	if err := w.symlink(target, tmp); err != nil {
		return err
	}
	return w.rename(tmp, l)
}

func (w *churn) opHardlink() error {
	f, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	return w.link(f, w.newPath(w.pickDir(true)))
}

func (w *churn) opFileToDir() error {
	p, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	if err := w.remove(p); err != nil {
		return err
	}
	if err := w.mkdir(p, 0o755); err != nil {
		return err
	}
	if w.rng.IntN(2) == 0 {
		return w.write(w.newPath(p), w.content(), "create")
	}
	return nil
}

func (w *churn) opDirToFile() error {
	d, ok := w.pickSmallDir()
	if !ok {
		return errSkip
	}
	if err := w.removeAll(d); err != nil {
		return err
	}
	return w.write(d, w.content(), "create where the directory was")
}

// opFlip replaces a file by a directory and back, at once.
func (w *churn) opFlip() error {
	p, ok := w.files.pick(w.rng)
	if !ok {
		return errSkip
	}
	if err := w.remove(p); err != nil {
		return err
	}
	if err := w.mkdir(p, 0o755); err != nil {
		return err
	}
	if err := w.write(w.newPath(p), w.content(), "create"); err != nil {
		return err
	}
	if err := w.removeAll(p); err != nil {
		return err
	}
	return w.write(p, w.content(), "create where the directory was")
}

// opRename moves a file or symlink to a new name, or over another file.
func (w *churn) opRename() error {
	src, ok := w.files.pick(w.rng)
	if w.rng.IntN(4) == 0 {
		src, ok = w.links.pick(w.rng)
	}
	if !ok {
		return errSkip
	}
	dst := w.newPath(w.pickDir(true))
	if w.rng.IntN(3) == 0 {
		if f, ok := w.files.pick(w.rng); ok {
			dst = f
		}
	}
	if dst == src {
		return errSkip
	}
	return w.rename(src, dst)
}

// oddNames are names that are not plain ASCII: bytes that are not UTF-8,
// escapes, spaces, control characters.
var oddNames = []string{"bad\xff\xfe", "bad\xc3(", "x\x80y", "sp ace", `back\slash`, "ünïcødé", "tab\tname", "nl\nname", ".hidden", "dash-ed.conf"}

func (w *churn) opOddName() error {
	d := w.pickDir(true)
	p := filepath.Join(d, oddNames[w.rng.IntN(len(oddNames))])
	switch w.kinds[p] {
	case 0:
		return w.write(p, w.content(), "create")
	case kindFile:
		if w.rng.IntN(2) == 0 {
			return w.remove(p)
		}
		return w.write(p, w.content(), "rewrite")
	}
	return errSkip
}

// --- choosing ---

// content returns new file content: unique to this op, mostly small.
func (w *churn) content() []byte {
	n := w.rng.IntN(256)
	if w.rng.IntN(8) == 0 {
		n = w.rng.IntN(8 << 10)
	}
	b := fmt.Appendf(make([]byte, 0, n+32), "op %d\n", w.op)
	for range n {
		b = append(b, 'a'+byte(w.rng.IntN(26)))
	}
	return b
}

// pickDir returns a directory of the tree, the root among them.
func (w *churn) pickDir(root bool) string {
	if d, ok := w.dirs.pick(w.rng); ok && (!root || w.rng.IntN(w.dirs.len()+1) > 0) {
		return d
	}
	return w.root
}

// newPath returns a path in dir that does not exist.
func (w *churn) newPath(dir string) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("n%03d", w.rng.IntN(1000))
		if i > 20 {
			name = fmt.Sprintf("n%d", w.rng.Uint32())
		}
		switch k := w.rng.IntN(12); {
		case k == 0:
			name = oddNames[w.rng.IntN(len(oddNames))] + name
		case k < 4:
			name += ".conf"
		}
		if p := filepath.Join(dir, name); !w.exists(p) {
			return p
		}
	}
}

// linkTarget returns a target for a symlink in dir: a file or directory
// of the tree (relative or absolute), a name that does not exist, or one
// outside the tree.
func (w *churn) linkTarget(dir string) string {
	switch w.rng.IntN(6) {
	case 0:
		return fmt.Sprintf("missing-%d", w.rng.IntN(100))
	case 1:
		return "/nonexistent/plumb-oracle\xff"
	case 2:
		return w.pickDir(true)
	}
	f, ok := w.files.pick(w.rng)
	if !ok {
		return "missing"
	}
	rel, err := filepath.Rel(dir, f)
	if err != nil {
		return f
	}
	return rel
}

func (w *churn) depth(p string) int {
	if p == w.root {
		return 0
	}
	return strings.Count(p[len(w.root):], "/")
}

func (w *churn) exists(p string) bool { return w.kinds[p] != 0 }

// --- the steps, on disk, in the model and in the journal ---

// write writes data to p: a new regular file, or a file rewritten in
// place (O_TRUNC, as most programs do).
func (w *churn) write(p string, data []byte, why string) error {
	k := w.kinds[p]
	if k != 0 && k != kindFile {
		return errSkip // a name an earlier op made a directory or symlink
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	what := fmt.Sprintf("%s: %d bytes sha256 %.6x", why, len(data), sha256.Sum256(data)) // 12 hex digits, as the checks print
	if k == 0 {
		w.addFile(p, nil)
		w.note(p, "", "%s, mode 0644", what)
		return nil
	}
	w.noteInode(p, "%s", what)
	return nil
}

// chmod sets p's mode bits, setuid, setgid and sticky among them.
func (w *churn) chmod(p string, mode uint32) error {
	if err := syscall.Chmod(p, mode); err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	what := fmt.Sprintf("chmod %04o", mode)
	if w.kinds[p] == kindFile {
		w.noteInode(p, "%s", what)
	} else {
		w.note(p, "", "%s", what)
	}
	return nil
}

func (w *churn) chown(p string, uid, gid int) error {
	if err := os.Lchown(p, uid, gid); err != nil {
		return err
	}
	if w.kinds[p] == kindFile {
		w.noteInode(p, "chown %d:%d", uid, gid)
	} else {
		w.note(p, "", "chown %d:%d", uid, gid)
	}
	return nil
}

func (w *churn) mkdir(p string, mode uint32) error {
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	w.add(p, kindDir)
	w.note(p, "", "mkdir")
	if mode != 0o755 {
		return w.chmod(p, mode)
	}
	return nil
}

func (w *churn) symlink(target, p string) error {
	if err := os.Symlink(target, p); err != nil {
		return err
	}
	w.add(p, kindLink)
	w.note(p, "", "symlink to %s", fact.Display([]byte(target)))
	return nil
}

func (w *churn) link(src, dst string) error {
	if err := os.Link(src, dst); err != nil {
		return err
	}
	w.addFile(dst, w.inodes[src])
	w.note(dst, "", "hard link to %s", w.rel(src))
	w.note(src, "", "hard link %s made to it", w.rel(dst))
	return nil
}

func (w *churn) remove(p string) error {
	if err := os.Remove(p); err != nil {
		return err
	}
	w.drop(p)
	w.note(p, "", "remove")
	return nil
}

func (w *churn) removeAll(p string) error {
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	sub := w.subtree(p)
	for _, q := range sub {
		w.drop(q)
	}
	w.note(p, "", "rm -rf (with %d entries under it)", len(sub)-1)
	return nil
}

// rename renames src to dst, over dst if it is a file or symlink.
func (w *churn) rename(src, dst string) error {
	if k := w.kinds[dst]; k == kindDir || (k != 0 && w.kinds[src] == kindDir) {
		return fmt.Errorf("rename %s over %s: a %c", w.rel(src), w.rel(dst), k)
	}
	if w.inodes[src] != nil && w.inodes[src] == w.inodes[dst] {
		return errSkip // rename(2) between two names of one inode does nothing
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	replaced := w.exists(dst)
	if replaced {
		w.drop(dst)
	}
	for _, q := range w.subtree(src) {
		k := w.kinds[q]
		ino := w.inodes[q]
		w.drop(q)
		nq := dst + q[len(src):]
		if k == kindFile {
			w.addFile(nq, ino)
		} else {
			w.add(nq, k)
		}
	}
	w.note(src, "", "renamed to %s", w.rel(dst))
	if replaced {
		w.note(dst, src, "replaced by %s, renamed over it", w.rel(src))
	} else {
		w.note(dst, src, "renamed from %s", w.rel(src))
	}
	return nil
}

// subtree returns p and every path under it.
func (w *churn) subtree(p string) []string {
	out := []string{p}
	if w.kinds[p] != kindDir {
		return out
	}
	for q := range w.kinds {
		if within(q, p) {
			out = append(out, q)
		}
	}
	slices.Sort(out) // p first; the same seed must pick the same paths
	return out
}

func (w *churn) add(p string, k byte) {
	w.kinds[p] = k
	switch k {
	case kindDir:
		w.dirs.add(p)
	case kindLink:
		w.links.add(p)
	}
}

// addFile adds regular file p, a new name of ino if not nil.
func (w *churn) addFile(p string, ino *inode) {
	w.kinds[p] = kindFile
	w.files.add(p)
	if ino == nil {
		ino = &inode{}
	}
	ino.names = append(ino.names, p)
	w.inodes[p] = ino
}

func (w *churn) drop(p string) {
	switch w.kinds[p] {
	case kindFile:
		w.files.remove(p)
		ino := w.inodes[p]
		ino.names = slices.DeleteFunc(ino.names, func(n string) bool { return n == p })
		delete(w.inodes, p)
	case kindDir:
		w.dirs.remove(p)
	case kindLink:
		w.links.remove(p)
	}
	delete(w.kinds, p)
}

// note journals a step on p; from is the path p was renamed from, if so.
func (w *churn) note(p, from, format string, args ...any) {
	w.step++
	e := entry{step: w.step, op: w.op, at: time.Now(), what: fmt.Sprintf(format, args...)}
	if from != "" {
		e.from = w.key(from)
	}
	k := w.key(p)
	w.journal[k] = append(w.journal[k], e)
}

// noteInode journals a change to regular file p on every name of its
// inode.
func (w *churn) noteInode(p, format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	for _, n := range w.inodes[p].names {
		if n == p {
			w.note(n, "", "%s", what)
		} else {
			w.note(n, "", "%s (made through hard link %s)", what, w.rel(p))
		}
	}
}

func (w *churn) key(p string) string { return fact.Display([]byte(p)) }

// rel returns p relative to the root, displayed.
func (w *churn) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil {
		r = p
	}
	return fact.Display([]byte(r))
}

// --- explaining ---

// history returns the journal of key and of its parent directories, in
// order, following renames back to where the path came from.
func (w *churn) history(key string) []entry {
	var out []entry
	var walk func(p string, before, depth int)
	walk = func(p string, before, depth int) {
		rootKey := w.key(w.root)
		for a := p; ; a = filepath.Dir(a) {
			for _, e := range w.journal[a] {
				if e.step >= before {
					break
				}
				if a != key {
					e.what = w.relKey(a) + ": " + e.what
				}
				out = append(out, e)
				if e.from != "" && depth < 8 {
					walk(e.from+p[len(a):], e.step, depth+1)
				}
			}
			if a == rootKey || len(a) <= len(rootKey) {
				return
			}
		}
	}
	walk(key, w.step+1, 0)
	slices.SortFunc(out, func(a, b entry) int { return a.step - b.step })
	return slices.CompactFunc(out, func(a, b entry) bool { return a.step == b.step })
}

func (w *churn) relKey(key string) string {
	return strings.TrimPrefix(strings.TrimPrefix(key, w.key(w.root)), "/")
}

// explain picks, among the divergent paths, the one whose last step is
// oldest (the divergence least likely to be anything but settled), and
// prints what the checks said of it and its history with the faults
// around it, then the last step of a few others.
func (w *churn) explain(divergent map[string][]string) string {
	keys := slices.Sorted(maps.Keys(divergent))
	type cand struct {
		key  string
		hist []entry
		last int
	}
	cands := make([]cand, 0, len(keys))
	for _, k := range keys {
		h := w.history(k)
		last := 0
		if len(h) > 0 {
			last = h[len(h)-1].step
		}
		cands = append(cands, cand{k, h, last})
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.last - b.last })
	first := cands[0]
	var sb strings.Builder
	fmt.Fprintf(&sb, "first divergent path (the one left alone longest): %s\n", first.key)
	for _, m := range divergent[first.key] {
		fmt.Fprintf(&sb, "  %s\n", m)
	}
	fmt.Fprintf(&sb, "its history, and its directories', with the faults since:\n")
	hist := first.hist
	from := 0
	if len(hist) > 0 {
		from = hist[0].step
	}
	for _, m := range w.marks {
		if m.step > from {
			m.what = "*** " + m.what
			hist = append(hist, m)
		}
	}
	slices.SortFunc(hist, func(a, b entry) int { return a.step - b.step })
	if len(hist) == 0 {
		sb.WriteString("  the workload never touched it or its directories\n")
	}
	const maxLines = 80
	if len(hist) > maxLines {
		fmt.Fprintf(&sb, "  (%d earlier steps left out)\n", len(hist)-maxLines)
		hist = hist[len(hist)-maxLines:]
	}
	for _, e := range hist {
		fmt.Fprintf(&sb, "  op %6d  %s  %s\n", e.op, e.at.Format("15:04:05.000000"), e.what)
	}
	if len(cands) > 1 {
		fmt.Fprintf(&sb, "other divergent paths, with their last step:\n")
		for _, c := range cands[1:min(len(cands), 16)] {
			if len(c.hist) == 0 {
				fmt.Fprintf(&sb, "  %s: never touched\n", c.key)
				continue
			}
			e := c.hist[len(c.hist)-1]
			fmt.Fprintf(&sb, "  %s: op %d %s %s\n", c.key, e.op, e.at.Format("15:04:05.000000"), e.what)
		}
		if len(cands) > 16 {
			fmt.Fprintf(&sb, "  ... and %d more\n", len(cands)-16)
		}
	}
	return sb.String()
}

// pathSet is a set of paths that can be picked from at random.
type pathSet struct {
	list []string
	at   map[string]int
}

func (s *pathSet) add(p string) {
	if s.at == nil {
		s.at = map[string]int{}
	}
	if _, ok := s.at[p]; ok {
		return
	}
	s.at[p] = len(s.list)
	s.list = append(s.list, p)
}

func (s *pathSet) remove(p string) {
	i, ok := s.at[p]
	if !ok {
		return
	}
	last := s.list[len(s.list)-1]
	s.list[i] = last
	s.at[last] = i
	s.list = s.list[:len(s.list)-1]
	delete(s.at, p)
}

func (s *pathSet) len() int { return len(s.list) }

func (s *pathSet) pick(rng *rand.Rand) (string, bool) {
	if len(s.list) == 0 {
		return "", false
	}
	return s.list[rng.IntN(len(s.list))], true
}

// within reports whether p is strictly inside dir.
func within(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

func withinOrSame(p, dir string) bool { return p == dir || within(p, dir) }
