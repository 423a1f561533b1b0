package query

import (
	"testing"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// GetDrift finds an item by id, open or closed, with or without its
// host, and a viewer may call it; ListDrift leaves the diff out.
func TestGetDrift(t *testing.T) {
	r := newRig(t)
	r.seed()
	ctx := ctxT(t)
	r.apply("web-1", upsert(file("/etc/app.conf", "a\n", 0o644)), checkpoint())
	changed := file("/etc/app.conf", "b\n", 0o644)
	changed.GetFile().Content = &plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF,
		UnifiedDiff: "--- a/etc/app.conf\n+++ b/etc/app.conf\n@@ -1 +1 @@\n-a\n+b\n", Redacted: true}
	r.apply("web-1", upsert(changed))

	list, err := r.client.ListDrift(ctx, &plumbv1.ListDriftRequest{IncludeClosed: true})
	if err != nil {
		t.Fatal(err)
	}
	viewer := r.asRole(ctx, plumbv1.Role_ROLE_VIEWER, "v")
	var fileItem string
	for _, it := range list.GetItems() {
		c := it.GetCurrent().GetFile().GetContent()
		if string(it.GetKey()) == "/etc/app.conf" {
			fileItem = it.GetId()
			if c.GetUnifiedDiff() != "" || c.GetState() != plumbv1.ContentState_CONTENT_STATE_DIFF || !c.GetRedacted() {
				t.Errorf("ListDrift content %v, want state and redacted without the diff", c)
			}
		}
		for _, host := range []string{"", it.GetHostId()} {
			got, err := r.client.GetDrift(viewer, &plumbv1.GetDriftRequest{Id: it.GetId(), HostId: host})
			if err != nil {
				t.Fatalf("GetDrift %s (host %q): %v", it.GetId(), host, err)
			}
			if got.GetItem().GetId() != it.GetId() || got.GetItem().GetStatus() != it.GetStatus() || string(got.GetItem().GetKey()) != string(it.GetKey()) {
				t.Fatalf("GetDrift %s gave %v", it.GetId(), got.GetItem())
			}
		}
	}
	if fileItem == "" {
		t.Fatal("no drift item for /etc/app.conf")
	}
	got, err := r.client.GetDrift(ctx, &plumbv1.GetDriftRequest{Id: fileItem})
	if err != nil {
		t.Fatal(err)
	}
	if d := got.GetItem().GetCurrent().GetFile().GetContent().GetUnifiedDiff(); d != changed.GetFile().GetContent().GetUnifiedDiff() {
		t.Fatalf("GetDrift diff %q", d)
	}

	_, err = r.client.GetDrift(ctx, &plumbv1.GetDriftRequest{Id: "0123456789abcdef0123456789abcdef"})
	wantCode(t, err, codes.NotFound, `drift item "0123456789abcdef0123456789abcdef" not found`)
	_, err = r.client.GetDrift(ctx, &plumbv1.GetDriftRequest{Id: fileItem, HostId: "db-1"})
	wantCode(t, err, codes.NotFound, "not found")
	_, err = r.client.GetDrift(ctx, &plumbv1.GetDriftRequest{Id: fileItem, HostId: "nope"})
	wantCode(t, err, codes.NotFound, `host "nope" not found`)
	_, err = r.client.GetDrift(ctx, &plumbv1.GetDriftRequest{})
	wantCode(t, err, codes.InvalidArgument, "id is required")
	_, err = r.client.GetDrift(ctx, &plumbv1.GetDriftRequest{Id: string(make([]byte, 65))})
	wantCode(t, err, codes.InvalidArgument, "id is required")
}
