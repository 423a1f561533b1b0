package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// The collector and agents here run as packaged: TLS, enrollment, API
// tokens. Each test checks a refusal against the real binaries.

type identityHostJSON struct {
	HostID    string `json:"host_id"`
	Connected bool   `json:"connected"`
	Identity  *struct {
		State       string `json:"state"`
		KeyPin      string `json:"key_pin"`
		Clashes     uint64 `json:"clashes"`
		ClashKeyPin string `json:"clash_key_pin"`
	} `json:"identity"`
}

func hostIdentity(t *testing.T, addr, host string) identityHostJSON {
	t.Helper()
	var hosts []identityHostJSON
	ctlJSON(t, addr, &hosts, "hosts")
	for _, h := range hosts {
		if h.HostID == host {
			return h
		}
	}
	t.Fatalf("host %s not listed", host)
	return identityHostJSON{}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestEnrollAndStream: a collector's first start leaves its CA and a 0600
// admin token; an agent enrolls with a join token and the CA pin, keeps a
// 0600 key and certificate, and streams; a change becomes drift.
func TestEnrollAndStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "a.conf"), "one\n")
	state := filepath.Join(dir, "agent")
	startAgent(t, c.addr, state, "enrolled-1", tree)
	waitBaseline(t, c.addr, "enrolled-1")

	for path, want := range map[string]os.FileMode{
		filepath.Join(c.data, "admin.token"): 0o600,
		filepath.Join(c.data, "ca.key"):      0o600,
		filepath.Join(state, "agent.key"):    0o600,
		filepath.Join(state, "agent.crt"):    0o600,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	// The agent's certificate is for its host id, issued by the CA whose
	// pin token create printed, for client use only.
	cert, err := pki.ReadCertFile(filepath.Join(state, "agent.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ReadCertFile(filepath.Join(c.data, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "enrolled-1" || cert.CheckSignatureFrom(ca) != nil ||
		len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("agent certificate: CN %q, EKU %v, signed by CA: %v", cert.Subject.CommonName, cert.ExtKeyUsage, cert.CheckSignatureFrom(ca))
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < 7*24*time.Hour || life > 7*24*time.Hour+time.Hour {
		t.Errorf("certificate life %v, want 7 days", life)
	}
	if pin := agentAuthArgs(t, c.addr)[3]; pin != pki.Pin(ca) {
		t.Errorf("token create printed pin %s, CA file's is %s", pin, pki.Pin(ca))
	}
	if h := hostIdentity(t, c.addr, "enrolled-1"); h.Identity == nil || h.Identity.State != "enrolled" || !h.Connected {
		t.Fatalf("host after enrollment: %+v", h)
	}
	writeFile(t, filepath.Join(tree, "a.conf"), "two\n")
	awaitOpenDrift(t, c.addr, "enrolled-1", 1, "drift over TLS")
}

// TestPlaintextAndUnpinnedRefused: a plaintext client, an agent pinned to
// another CA, and a stream without a client certificate all fail.
func TestPlaintextAndUnpinnedRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	args := agentAuthArgs(t, c.addr)

	// Plaintext gRPC to a TLS collector: no call gets through.
	cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = plumbv1.NewQueryServiceClient(cc).ListHosts(withToken(ctx, adminToken(t, c)), &plumbv1.ListHostsRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext ListHosts: %v, want Unavailable", err)
	}
	// An --insecure agent never connects either.
	plain := start(t, "agent plain", bin.agent, "--insecure", "--collector", c.addr, "--state", filepath.Join(dir, "plain"),
		"--host-id", "plain-1", "--sources", "kernel", "--log-level", "debug")

	// The right token, the wrong pin: the agent refuses the collector and
	// never sends its token.
	wrong := strings.Repeat("ab", 32)
	bad := start(t, "agent wrong pin", bin.agent, "--collector", c.addr, "--state", filepath.Join(dir, "wrongpin"),
		"--host-id", "wrongpin-1", "--sources", "kernel", "--join-token", args[1], "--ca-pin", "sha256:"+wrong)
	logged(t, bad, 15*time.Second, "refusing the collector: its CA is not the pinned one", "does not match the pinned CA")
	logged(t, plain, 15*time.Second, "collector stream ended")
	if _, err := os.Stat(filepath.Join(dir, "wrongpin", "agent.crt")); !os.IsNotExist(err) {
		t.Errorf("agent with a wrong pin holds a certificate: %v", err)
	}

	// TLS but no client certificate: the stream is refused.
	st, err := plumbv1.NewAgentServiceClient(dialTLS(t, c, nil)).Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{HostId: "nocert-1", BucketCount: fact.BucketCount}}})
	if _, err := st.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without a client certificate: %v, want Unauthenticated", err)
	}
	var hosts []hostJSON
	ctlJSON(t, c.addr, &hosts, "hosts")
	if len(hosts) != 0 {
		t.Errorf("hosts after refused clients: %+v", hosts)
	}
}

// TestJoinTokensRefused: expired, used-up and unknown tokens enroll
// nobody.
func TestJoinTokensRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	pin := agentAuthArgs(t, c.addr)[3]
	create := func(ttl, uses string) string {
		var tok struct {
			Token string `json:"token"`
		}
		ctlJSON(t, c.addr, &tok, "token", "create", "--ttl", ttl, "--uses", uses)
		return tok.Token
	}
	enroll := func(host, token string) error {
		key, _ := pki.GenerateKey()
		csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = plumbv1.NewEnrollServiceClient(dialTLS(t, c, nil)).Enroll(ctx, &plumbv1.EnrollRequest{JoinToken: token, CsrDer: csr})
		return err
	}
	expired := create("1s", "5")
	once := create("1h", "1")
	if err := enroll("once-1", once); err != nil {
		t.Fatalf("first use of a one-use token: %v", err)
	}
	if err := enroll("once-2", once); status.Code(err) != codes.Unauthenticated {
		t.Errorf("second use of a one-use token: %v, want Unauthenticated", err)
	}
	forged := "pjt.0123456789abcdef." + strings.Repeat("A", 43)
	if err := enroll("forged-1", forged); status.Code(err) != codes.Unauthenticated {
		t.Errorf("unknown token: %v, want Unauthenticated", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := enroll("late-1", expired); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v, want Unauthenticated (expired)", err)
	}
	// A real agent with a used-up token says so and holds no certificate.
	a := start(t, "agent used token", bin.agent, "--collector", c.addr, "--state", filepath.Join(dir, "used"),
		"--host-id", "used-1", "--sources", "kernel", "--join-token", once, "--ca-pin", pin)
	logged(t, a, 15*time.Second, "the collector refused enrollment", "used up")
	if _, err := os.Stat(filepath.Join(dir, "used", "agent.crt")); !os.IsNotExist(err) {
		t.Errorf("refused agent holds a certificate: %v", err)
	}
}

// TestStreamBoundToCertificate: a host's certificate cannot report for
// another host, and revoking a host ends its stream at once and refuses
// it after.
func TestStreamBoundToCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	metrics := freeAddr(t)
	c := startCollector(t, filepath.Join(dir, "collector"), "", "--metrics-listen", metrics)
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "a"), "a\n")
	stateA := filepath.Join(dir, "a")
	agentA := startAgent(t, c.addr, stateA, "bound-a", tree)
	waitBaseline(t, c.addr, "bound-a")
	certA := agentCert(t, stateA)

	sync := func(cert *tls.Certificate, host string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := plumbv1.NewAgentServiceClient(dialTLS(t, c, cert)).Sync(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&plumbv1.SyncRequest{Msg: &plumbv1.SyncRequest_Hello{Hello: &plumbv1.Hello{HostId: host, BucketCount: fact.BucketCount}}}); err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	if err := sync(certA, "bound-b"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("host a's certificate reporting for b: %v, want PermissionDenied", err)
	}
	logged(t, c.proc, 5*time.Second, "agent tried to stream for another host")
	if v, err := scrape(metrics, `plumb_collector_auth_denied_total{reason="wrong_host"}`); err != nil || v != 1 {
		t.Errorf("wrong_host refusals counted: %v, %v; want 1", v, err)
	}

	ctl(t, c.addr, "hosts", "revoke", "bound-a")
	start := time.Now()
	waitFor(t, 5*time.Second, "revoked host to disconnect", func() bool { return !hostIdentity(t, c.addr, "bound-a").Connected })
	t.Logf("revoked host disconnected within %v", time.Since(start).Round(time.Millisecond))
	if err := sync(certA, "bound-a"); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked host streaming: %v, want PermissionDenied (revoked)", err)
	}
	logged(t, agentA, 10*time.Second, "collector stream ended", "revoked")
	if v, err := scrape(metrics, `plumb_collector_auth_denied_total{reason="revoked"}`); err != nil || v < 1 {
		t.Errorf("revoked refusals counted: %v, %v", v, err)
	}
	if h := hostIdentity(t, c.addr, "bound-a"); h.Identity == nil || h.Identity.State != "revoked" || h.Connected {
		t.Errorf("revoked host: %+v", h)
	}
}

// TestClonedIdentityQuarantined: a second machine with the same host id
// (a cloned VM, one machine-id) cannot enroll over the first: the host
// id is quarantined and reported, the first keeps streaming; after a
// revoke the new machine may take the id.
func TestClonedIdentityQuarantined(t *testing.T) {
	t.Parallel()
	hook := newHook(t)
	dir, c, tree, origAgent := enrolledHostHook(t, "vm-1", "orig", hook.srv.URL)
	orig := hostIdentity(t, c.addr, "vm-1").Identity.KeyPin

	clone := startAgent(t, c.addr, filepath.Join(dir, "clone"), "vm-1", tree)
	logged(t, clone, 15*time.Second, "the collector refused enrollment", "quarantined")
	h := hostIdentity(t, c.addr, "vm-1")
	if h.Identity == nil || h.Identity.State != "quarantined" || h.Identity.KeyPin != orig || h.Identity.Clashes == 0 || h.Identity.ClashKeyPin == orig {
		t.Fatalf("after a clone tried to enroll: %+v", h.Identity)
	}
	if _, err := os.Stat(filepath.Join(dir, "clone", "agent.crt")); !os.IsNotExist(err) {
		t.Errorf("clone holds a certificate: %v", err)
	}
	// On-call hears of it: the host's identity health item opens,
	// critical, naming the clone's key.
	ev := awaitHealth(t, hook, "vm-1", "identity", "drift.opened")
	if ev.Severity != "critical" || !strings.Contains(healthDetail(ev), h.Identity.ClashKeyPin) {
		t.Errorf("identity health: severity %q, detail %q, want critical naming %s", ev.Severity, healthDetail(ev), h.Identity.ClashKeyPin)
	}
	// The original still streams: a change reaches the collector (open
	// drift: the change and the quarantine).
	writeFile(t, filepath.Join(tree, "a"), "changed\n")
	awaitOpenDrift(t, c.addr, "vm-1", 2, "the original's drift")
	// The clone tries again only at its slowest pace: not a loop.
	n := strings.Count(clone.out.String(), "refused enrollment")
	time.Sleep(2 * time.Second)
	if m := strings.Count(clone.out.String(), "refused enrollment"); m != n {
		t.Errorf("refused clone retried %d times in 2s", m-n)
	}
	// An admin decides the new machine is vm-1 now: revoke, enroll. The
	// original is retired first: left running, it would come back with
	// its old key and quarantine the new enrollment (rightly).
	clone.stop()
	origAgent.stop()
	ctl(t, c.addr, "hosts", "revoke", "vm-1")
	awaitHealth(t, hook, "vm-1", "identity", "drift.resolved")
	again := startAgent(t, c.addr, filepath.Join(dir, "clone"), "vm-1", tree)
	logged(t, again, 15*time.Second, "enrolled with the collector")
	if h := hostIdentity(t, c.addr, "vm-1"); h.Identity == nil || h.Identity.State != "enrolled" || h.Identity.KeyPin == orig || h.Identity.Clashes != 0 {
		t.Errorf("after revoke and enrollment: %+v", h.Identity)
	}
}

// TestAPIRoles: no token, a forged token, and a too-weak role are
// refused; accepted-by is the token's name.
func TestAPIRoles(t *testing.T) {
	t.Parallel()
	_, c, tree := enrolledHost(t, "roles-1", "agent")
	writeFile(t, filepath.Join(tree, "a"), "b\n")

	token := func(role, name string) string {
		var tok struct {
			Token string `json:"token"`
		}
		ctlJSON(t, c.addr, &tok, "apitoken", "create", "--role", role, "--name", name)
		return tok.Token
	}
	viewer, operator := token("viewer", "vera"), token("operator", "otto")
	ca := filepath.Join(c.data, "ca.crt")
	run := func(tok string, args ...string) (string, int) {
		cmd := exec.Command(bin.ctl, append([]string{"--collector", c.addr, "--ca-file", ca, "--token-file", ""}, args...)...)
		cmd.Env = append(os.Environ(), "PLUMB_TOKEN="+tok)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	for _, tc := range []struct {
		token string
		args  []string
		want  string
	}{
		{"", []string{"hosts"}, "unauthenticated"},
		{"pat.0123456789abcdef." + strings.Repeat("A", 43), []string{"hosts"}, "unauthenticated"},
		{viewer, []string{"accept", "--host", "roles-1", "--reason", "x"}, "permission denied"},
		{viewer, []string{"token", "create"}, "permission denied"},
		{operator, []string{"apitoken", "create", "--role", "admin"}, "permission denied"},
		{operator, []string{"hosts", "revoke", "roles-1"}, "permission denied"},
	} {
		out, code := run(tc.token, tc.args...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%v with token %.12q: exit %d, %s; want exit 1 and %q", tc.args, tc.token, code, out, tc.want)
		}
	}
	if out, code := run(viewer, "hosts"); code != 0 || !strings.Contains(out, "roles-1") {
		t.Errorf("viewer lists hosts: exit %d, %s", code, out)
	}
	waitFor(t, 15*time.Second, "drift to accept", func() bool {
		out, code := run(viewer, "drift", "--host", "roles-1")
		return code == 0 && strings.Contains(out, "/a")
	})
	if out, code := run(operator, "accept", "--host", "roles-1", "--reason", "ok"); code != 0 {
		t.Fatalf("operator accept: exit %d, %s", code, out)
	}
	var items []struct {
		AcceptedBy string `json:"accepted_by"`
	}
	ctlJSON(t, c.addr, &items, "drift", "--host", "roles-1", "--all")
	if len(items) != 1 || items[0].AcceptedBy != "otto" {
		t.Errorf("accepted items %+v, want accepted_by otto (the token's name)", items)
	}
	// A revoked token stops working at once; listing shows no secrets.
	out := ctl(t, c.addr, "apitoken", "list")
	if !strings.Contains(out, "vera") || strings.Contains(out, strings.Split(viewer, ".")[2]) {
		t.Errorf("apitoken list:\n%s", out)
	}
	ctl(t, c.addr, "apitoken", "revoke", "vera")
	if out, code := run(viewer, "hosts"); code != 1 || !strings.Contains(out, "unauthenticated") {
		t.Errorf("revoked token: exit %d, %s", code, out)
	}
}

// TestDigestsOfUnreadableFilesKeyed: the content digest of a file only
// root may read is shown as it is to admins and keyed to viewers, so a
// short secret cannot be brute-forced from it; equal content still shows
// equal keyed digests.
func TestDigestsOfUnreadableFilesKeyed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startCollector(t, filepath.Join(dir, "collector"), "")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "pin"), "4711\n")
	writeFile(t, filepath.Join(tree, "pin2"), "4711\n")
	writeFile(t, filepath.Join(tree, "motd"), "4711\n")
	for _, f := range []string{"pin", "pin2"} {
		if err := os.Chmod(filepath.Join(tree, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "motd"), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, c.addr, filepath.Join(dir, "agent"), "secret-1", tree)
	waitBaseline(t, c.addr, "secret-1")
	plain := sha256.Sum256([]byte("4711\n"))
	want := hex.EncodeToString(plain[:])

	adminFacts := hostFacts(t, c.addr, "secret-1", "file")
	var tok struct {
		Token string `json:"token"`
	}
	ctlJSON(t, c.addr, &tok, "apitoken", "create", "--role", "viewer")
	cmd := exec.Command(bin.ctl, "--collector", c.addr, "--ca-file", filepath.Join(c.data, "ca.crt"), "--token", tok.Token,
		"-o", "json", "facts", "--host", "secret-1", "--kind", "file")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var list []factJSON
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	viewerFacts := map[string]factJSON{}
	for _, f := range list {
		viewerFacts[f.Key] = f
	}
	pin, pin2, motd := filepath.Join(tree, "pin"), filepath.Join(tree, "pin2"), filepath.Join(tree, "motd")
	if got := adminFacts[pin].attr("sha256"); got != want {
		t.Errorf("admin sees %s sha256 %q, want sha256sum's %q", pin, got, want)
	}
	if got := viewerFacts[motd].attr("sha256"); got != want {
		t.Errorf("viewer sees world-readable %s sha256 %q, want %q", motd, got, want)
	}
	v1, v2 := viewerFacts[pin].attr("sha256"), viewerFacts[pin2].attr("sha256")
	if v1 == "" || v1 == want || v1 != v2 {
		t.Errorf("viewer sees %s sha256 %q and %s %q: want keyed (not %q) and equal", pin, v1, pin2, v2, want)
	}
	if viewerFacts[pin].Digest == adminFacts[pin].Digest {
		t.Errorf("viewer sees the fact digest of %s unkeyed", pin)
	}
}

// TestRenewalKeepsStreaming: with 9-second certificates, the agent renews
// at two thirds of their life; after the first certificate expired it
// still streams, and a restarted agent connects with the renewed one.
func TestRenewalKeepsStreaming(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "collector")
	c := startCollector(t, data, "", "--cert-ttl", "9s")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "a"), "a\n")
	state := filepath.Join(dir, "agent")
	a := startAgent(t, c.addr, state, "renew-1", tree)
	waitBaseline(t, c.addr, "renew-1")
	first, err := pki.ReadCertFile(filepath.Join(state, "agent.crt"))
	if err != nil {
		t.Fatal(err)
	}
	logged(t, a, 15*time.Second, "certificate renewed")
	second, err := pki.ReadCertFile(filepath.Join(state, "agent.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 || !second.NotAfter.After(first.NotAfter) {
		t.Fatalf("renewed certificate: serial %v → %v, not after %v → %v", first.SerialNumber, second.SerialNumber, first.NotAfter, second.NotAfter)
	}
	if d := time.Until(first.NotAfter); d > 0 {
		time.Sleep(d + 500*time.Millisecond)
	}
	writeFile(t, filepath.Join(tree, "a"), "after expiry\n")
	awaitOpenDrift(t, c.addr, "renew-1", 1, "drift after the first certificate expired")
	a.stop()
	// A new process: a new TLS handshake, with the renewed certificate
	// (it renews again as it goes; the join token is not needed).
	b := start(t, "agent renew-1 again", bin.agent, "--collector", c.addr, "--state", state, "--host-id", "renew-1",
		"--sources", "file", "--watch", tree, "--ca-pin", agentAuthArgs(t, c.addr)[3])
	logged(t, b, 15*time.Second, "in sync with collector")
}

// awaitOpenDrift waits until host has n open drift items.
func awaitOpenDrift(t *testing.T, addr, host string, n int, what string) {
	t.Helper()
	waitFor(t, 15*time.Second, what, func() bool {
		var items []map[string]any
		out, _, err := ctlResult(addr, "-o", "json", "drift", "--host", host)
		return err == nil && json.Unmarshal([]byte(out), &items) == nil && len(items) == n
	})
}

// enrolledHost starts a TLS collector and an agent for host, its state in
// dir/state, watching dir/tree (one file, "a"), and waits for its
// baseline.
func enrolledHost(t *testing.T, host, state string) (dir string, c *collector, tree string) {
	t.Helper()
	dir, c, tree, _ = enrolledHostHook(t, host, state, "")
	return dir, c, tree
}

// enrolledHostHook is enrolledHost with the collector's webhooks going to
// hookURL and extra collector flags; it returns the agent too.
func enrolledHostHook(t *testing.T, host, state, hookURL string, extra ...string) (dir string, c *collector, tree string, agent *proc) {
	t.Helper()
	dir = t.TempDir()
	c = startCollector(t, filepath.Join(dir, "collector"), hookURL, extra...)
	tree = filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "a"), "a\n")
	agent = startAgent(t, c.addr, filepath.Join(dir, state), host, tree)
	waitBaseline(t, c.addr, host)
	return dir, c, tree, agent
}
