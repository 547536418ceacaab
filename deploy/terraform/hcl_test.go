package terraform

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// hclFile is one parsed configuration file with its source, so expressions
// that cannot be evaluated without provider schemas (references, function
// calls) can still be read as text.
type hclFile struct {
	path string
	src  []byte
	body *hclsyntax.Body
}

// block is a configuration block and the file it came from.
type block struct {
	file *hclFile
	b    *hclsyntax.Block
}

// tfConfig is every .tf file under a directory, read without schemas.
type tfConfig struct {
	root  string
	files []*hclFile
}

// parseHCL parses one file; a syntax error is returned, not skipped, so a
// broken file can never pass the checks by being invisible.
func parseHCL(path string) (*hclFile, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return &hclFile{path: path, src: src, body: f.Body.(*hclsyntax.Body)}, nil
}

// loadTerraform parses every .tf file under dir, skipping .terraform caches.
func loadTerraform(dir string) (*tfConfig, error) {
	cfg := &tfConfig{root: dir}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".tf") {
			return nil
		}
		f, err := parseHCL(path)
		if err != nil {
			return err
		}
		cfg.files = append(cfg.files, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cfg.files) == 0 {
		return nil, fmt.Errorf("no .tf files under %s", dir)
	}
	return cfg, nil
}

// blocks returns the top-level blocks of one kind ("resource", "data",
// "module", "variable") whose first label is typ ("" matches any).
func (c *tfConfig) blocks(kind, typ string) []block {
	var out []block
	for _, f := range c.files {
		for _, b := range f.body.Blocks {
			if b.Type == kind && (typ == "" || (len(b.Labels) > 0 && b.Labels[0] == typ)) {
				out = append(out, block{f, b})
			}
		}
	}
	return out
}

// resources returns every resource of one type.
func (c *tfConfig) resources(typ string) []block { return c.blocks("resource", typ) }

// variableDefault is the literal default of variable name in from's module.
func (c *tfConfig) variableDefault(from block, name string) (cty.Value, bool) {
	dir := filepath.Dir(from.file.path)
	for _, b := range c.blocks("variable", "") {
		if filepath.Dir(b.file.path) == dir && b.b.Labels[0] == name {
			return b.literal("default")
		}
	}
	return cty.NilVal, false
}

// where names the block for messages: file:line type.name.
func (b block) where() string {
	return fmt.Sprintf("%s:%d %s", filepath.Base(filepath.Dir(b.file.path))+"/"+filepath.Base(b.file.path),
		b.b.DefRange().Start.Line, strings.Join(b.b.Labels, "."))
}

// nested returns b's child blocks of one type, including the content of
// dynamic blocks of that type.
func (b block) nested(typ string) []block {
	var out []block
	for _, c := range b.b.Body.Blocks {
		switch {
		case c.Type == typ:
			out = append(out, block{b.file, c})
		case c.Type == "dynamic" && len(c.Labels) == 1 && c.Labels[0] == typ:
			for _, content := range c.Body.Blocks {
				if content.Type == "content" {
					out = append(out, block{b.file, content})
				}
			}
		}
	}
	return out
}

// first returns the first child block of typ.
func (b block) first(typ string) (block, bool) {
	n := b.nested(typ)
	if len(n) == 0 {
		return block{}, false
	}
	return n[0], true
}

// expr returns attribute name's expression.
func (b block) expr(name string) (hclsyntax.Expression, bool) {
	a, ok := b.b.Body.Attributes[name]
	if !ok {
		return nil, false
	}
	return a.Expr, true
}

// text is attribute name's expression as written, e.g. "aws_kms_key.x.arn".
func (b block) text(name string) string {
	e, ok := b.expr(name)
	if !ok {
		return ""
	}
	r := e.Range()
	return strings.TrimSpace(string(r.SliceBytes(b.file.src)))
}

// literal evaluates attribute name with no variables or functions; ok is
// false when it is absent or not a literal.
func (b block) literal(name string) (cty.Value, bool) {
	e, ok := b.expr(name)
	if !ok {
		return cty.NilVal, false
	}
	return literalValue(e)
}

func literalValue(e hclsyntax.Expression) (cty.Value, bool) {
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

// str is attribute name as a literal string ("" when not one).
func (b block) str(name string) string {
	v, ok := b.literal(name)
	if !ok || v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// isTrue reports whether attribute name is the literal true.
func (b block) isTrue(name string) bool {
	v, ok := b.literal(name)
	return ok && !v.IsNull() && v.Type() == cty.Bool && v.True()
}

// number resolves attribute name to a number: a literal, or var.x with a
// literal default in the same module.
func (c *tfConfig) number(b block, name string) (float64, bool) {
	v, ok := b.literal(name)
	if !ok {
		ref, isVar := strings.CutPrefix(b.text(name), "var.")
		if !isVar {
			return 0, false
		}
		if v, ok = c.variableDefault(b, ref); !ok {
			return 0, false
		}
	}
	if v.IsNull() || v.Type() != cty.Number {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

// listItems returns the element expressions of a tuple attribute
// (["a", var.b]); ok is false when it is not written as a tuple.
func (b block) listItems(name string) ([]hclsyntax.Expression, bool) {
	e, ok := b.expr(name)
	if !ok {
		return nil, false
	}
	t, ok := e.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil, false
	}
	return t.Exprs, true
}

// literalStrings returns the literal string elements of a tuple attribute.
func (b block) literalStrings(name string) []string {
	items, _ := b.listItems(name)
	var out []string
	for _, e := range items {
		if v, ok := literalValue(e); ok && v.Type() == cty.String {
			out = append(out, v.AsString())
		}
	}
	return out
}
