package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/*
var assetFiles embed.FS

// Asset is a static file of the console, served under a name that
// carries a hash of its content: it may be cached for ever, and a new
// release's page never gets an old release's script or style.
type Asset struct {
	Name        string // hashed name, e.g. console.3f2a1b9c0d4e.css
	ContentType string
	Body        []byte
}

// Renderer renders the console's pages and serves its assets. Create it
// with NewRenderer; it is safe for concurrent use.
type Renderer struct {
	base   string // the public base path ("" or "/prod")
	pages  map[string]*template.Template
	assets map[string]Asset // by hashed name
	named  map[string]string
}

// NewRenderer parses every template once. base is the path the service
// is served under (PUBLIC_BASE_URL's path, "" at the root): every link
// the pages make starts with it.
func NewRenderer(base string) (*Renderer, error) {
	r := &Renderer{base: base, pages: map[string]*template.Template{},
		assets: map[string]Asset{}, named: map[string]string{}}
	names, err := fs.Glob(assetFiles, "assets/*")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		body, err := assetFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		name := path.Base(n)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		r.assets[hashed] = Asset{Name: hashed, ContentType: contentType(ext), Body: body}
		r.named[name] = hashed
	}
	funcs := template.FuncMap{
		"path":    r.Path,
		"asset":   r.assetPath,
		"when":    formatTime,
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"secs":    formatSeconds,
		"field":   field,
		"urlpath": url.PathEscape,
	}
	pages, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/parts.html", p)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// Path is the public path of a console path ("/console/calls").
func (r *Renderer) Path(p string) string { return r.base + p }

func (r *Renderer) assetPath(name string) (string, error) {
	hashed, ok := r.named[name]
	if !ok {
		return "", fmt.Errorf("no console asset %q", name)
	}
	return r.base + "/console/assets/" + hashed, nil
}

// Asset returns the asset with the hashed name, if there is one.
func (r *Renderer) Asset(hashed string) (Asset, bool) {
	a, ok := r.assets[hashed]
	return a, ok
}

// Render renders page with data: the whole document, or only the
// template named block within it when block is not "".
func (r *Renderer) Render(page, block string, data any) ([]byte, error) {
	t, ok := r.pages[page]
	if !ok {
		return nil, fmt.Errorf("no console page %q", page)
	}
	if block == "" {
		block = "layout"
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, block, data); err != nil {
		return nil, fmt.Errorf("rendering console page %s: %w", page, err)
	}
	return b.Bytes(), nil
}

func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// formatTime shows a time to the minute, in UTC like the date filters.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// formatSeconds shows a duration in seconds as 1:05 or 1:02:05.
func formatSeconds(s int) string {
	if s <= 0 {
		return "0:00"
	}
	h, m, sec := s/3600, s/60%60, s%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}
