package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServes: "/" is the page, which asks for a token in a password field
// and loads its module; every asset is served with its type; every
// response, found or not, carries the security headers.
func TestServes(t *testing.T) {
	for _, tc := range []struct {
		path, ctype string
		code        int
		contains    string
	}{
		{"/", "text/html", 200, `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript", 200, "import"},
		{"/style.css", "text/css", 200, "body"},
		{"/favicon.svg", "image/svg+xml", 200, "<svg"},
		{"/index.html", "", 404, ""},
		{"/nope.js", "", 404, ""},
		{"/../dashboard.go", "", 404, ""},
		{"/.hidden", "", 404, ""},
	} {
		r := get(t, http.MethodGet, tc.path)
		b := body(t, r)
		if r.StatusCode != tc.code || !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(b, tc.contains) {
			t.Errorf("GET %s: %d %q, want %d %q containing %q", tc.path, r.StatusCode, r.Header.Get("Content-Type"), tc.code, tc.ctype, tc.contains)
		}
		for h, want := range map[string]string{
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, h, got, want)
			}
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if r := get(t, m, "/"); r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %d, want 405", m, r.StatusCode)
		}
	}
}

// TestPolicyForbidsInlineAndForeign: the policy allows scripts from the
// collector only and framing by nobody.
func TestPolicyForbidsInlineAndForeign(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("policy %q lacks %q", ContentSecurityPolicy, want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-") || strings.Contains(ContentSecurityPolicy, "*") || strings.Contains(ContentSecurityPolicy, "http") {
		t.Errorf("policy %q allows inline code or other origins", ContentSecurityPolicy)
	}
}

// TestAssetsNeverParseHTML: the scripts build the DOM from text only (no
// innerHTML and kin, no eval), load nothing from elsewhere, and the page
// has no inline script, style or handler, which the policy would block.
func TestAssetsNeverParseHTML(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(\s*['"\x60]|createContextualFragment|DOMParser`)
	foreign := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/|\bimport\s*\(`)
	n := 0
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		s := string(b)
		if strings.HasSuffix(p, ".js") {
			n++
			if m := sinks.FindString(s); m != "" {
				t.Errorf("%s uses %s", p, m)
			}
			for _, imp := range regexp.MustCompile(`from '([^']+)'`).FindAllStringSubmatch(s, -1) {
				if !strings.HasPrefix(imp[1], "./") {
					t.Errorf("%s imports %s: only the collector's own modules", p, imp[1])
				}
			}
		}
		if m := foreign.FindString(s); m != "" && !strings.Contains(m, "www.w3.org/") {
			t.Errorf("%s refers to %q: the dashboard works offline", p, m)
		}
		if strings.HasSuffix(p, ".html") {
			if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(s) || regexp.MustCompile(`\s(on[a-z]+|style)=`).MatchString(s) || strings.Contains(s, "<style") {
				t.Errorf("%s has inline script, style or handlers", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("found %d scripts; the walk missed the assets", n)
	}
}
