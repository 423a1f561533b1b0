// Package dashboard owns the collector's browser dashboard: static HTML,
// CSS and JavaScript modules embedded in the binary and served at "/", so
// it works offline and needs no CDN. The pages read everything through the
// HTTP/JSON API with the person's own API token (sent as a bearer token,
// kept in the tab's sessionStorage), so they can show and do exactly what
// that token may; serving the assets themselves needs no token, as they
// hold no data.
//
// Everything a page shows came from a host and is untrusted: the scripts
// build the DOM with textContent and never parse data as HTML, and every
// response carries a Content-Security-Policy that allows no inline script,
// no other origin and no framing.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every dashboard response: scripts,
// styles and images from the collector itself only, API calls to it only,
// no inline script or style, no plugins, no framing, no form posts.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard: "/" is the single page (index.html), the
// other assets by name. Pages are addressed by the URL fragment (#/host/…),
// so the server knows no routes but these files. Only GET and HEAD.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Assets change with the binary; revalidate so an upgraded
		// collector is never paired with yesterday's scripts.
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := path.Clean("/" + r.URL.Path)
		if name == "/index.html" {
			// FileServer would redirect it to "/"; one address per page.
			http.NotFound(w, r)
			return
		}
		if name != "/" && (strings.HasPrefix(path.Base(name), ".") || !exists(sub, strings.TrimPrefix(name, "/"))) {
			http.NotFound(w, r) // no directory listings, no probing
			return
		}
		files.ServeHTTP(w, r)
	})
}

// exists reports whether name is a regular file among the assets.
func exists(fsys fs.FS, name string) bool {
	fi, err := fs.Stat(fsys, name)
	return err == nil && fi.Mode().IsRegular()
}
