package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// netCut joins the host namespace to a network namespace (addNetns) with
// a veth pair: host side hostIP, namespace side nsIP. Setting the host
// side down drops every packet both ways without a reset, as a pulled
// cable or a silent firewall does.
type netCut struct {
	ns, hostIf   string
	hostIP, nsIP string
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// newNetCut creates the namespace and the link, or skips the test.
func newNetCut(t *testing.T) *netCut {
	t.Helper()
	ns := addNetns(t, "plumb-cut")
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	// A /30 in 10.231.0.0/16 picked at random, so that parallel runs
	// rarely clash; the addresses are only used on this link.
	net := fmt.Sprintf("10.231.%d.", b[0])
	host := int(b[1]%63) * 4
	n := &netCut{
		ns:     ns,
		hostIf: "pcut" + id,
		hostIP: net + fmt.Sprint(host+1),
		nsIP:   net + fmt.Sprint(host+2),
	}
	nsIf := "pcun" + id
	if err := ipCmd("link", "add", n.hostIf, "type", "veth", "peer", "name", nsIf); err != nil {
		t.Skipf("cannot create a veth pair: %v", err)
	}
	t.Cleanup(func() { _ = ipCmd("link", "del", n.hostIf) })
	for _, s := range [][]string{
		{"link", "set", nsIf, "netns", ns},
		{"addr", "add", n.hostIP + "/30", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", ns, "addr", "add", n.nsIP + "/30", "dev", nsIf},
		{"-n", ns, "link", "set", nsIf, "up"},
	} {
		if err := ipCmd(s...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// cut drops all traffic on the link; mend lets it through again.
func (n *netCut) cut(t *testing.T) {
	t.Helper()
	if err := ipCmd("link", "set", n.hostIf, "down"); err != nil {
		t.Fatal(err)
	}
}

func (n *netCut) mend(t *testing.T) {
	t.Helper()
	if err := ipCmd("link", "set", n.hostIf, "up"); err != nil {
		t.Fatal(err)
	}
}
