package problem

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the module root, seen from this package's directory.
const repoRoot = ".."

// importPath is this package's import path, to find its callers.
const importPath = "github.com/ordersvc/ordersvc/problem"

// slugConstants returns the Slug constants declared in this package's
// non-test files, by name, read from the source so that a constant missing
// from Slugs() is caught too.
func slugConstants(t *testing.T) map[string]Slug {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]Slug{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "Slug" {
					continue
				}
				for i, id := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: Slug constant %s is not a string literal", name, id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					consts[id.Name] = Slug(v)
				}
			}
		}
	}
	return consts
}

// githubAnchor is the fragment GitHub gives a Markdown heading: lower
// case, punctuation other than '-' and '_' dropped, spaces turned to '-'.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// sectionAnchors returns the anchors of the level-2 headings of a Markdown
// file, outside fenced code blocks, in order.
func sectionAnchors(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the problem types must be documented: %v", err)
	}
	defer f.Close()
	var anchors []string
	fenced := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if heading, ok := strings.CutPrefix(line, "## "); ok && !fenced {
			anchors = append(anchors, githubAnchor(heading))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

func TestGithubAnchor(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"validation", "validation"},
		{"not-found", "not-found"},
		{"`body-too-large`", "body-too-large"},
		{"Not Found!", "not-found"},
		{"snake_case", "snake_case"},
	}
	for _, tt := range tests {
		if got := githubAnchor(tt.heading); got != tt.want {
			t.Errorf("githubAnchor(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

// TestSlugsAreDocumented checks that every Slug constant is listed by
// Slugs() and has its own section in docs/problems.md whose anchor is the
// slug (so the type URI lands on it), and that every section documents a
// slug that exists.
func TestSlugsAreDocumented(t *testing.T) {
	consts := slugConstants(t)
	listed := Slugs()
	if len(consts) == 0 {
		t.Fatal("found no Slug constants")
	}
	for name, slug := range consts {
		if !slices.Contains(listed, slug) {
			t.Errorf("%s (%q) is missing from Slugs()", name, slug)
		}
	}
	if len(listed) != len(consts) {
		t.Errorf("Slugs() lists %d slugs, %d constants are declared", len(listed), len(consts))
	}
	anchors := sectionAnchors(t, filepath.Join(repoRoot, "docs", "problems.md"))
	for _, slug := range listed {
		switch n := strings.Count(" "+strings.Join(anchors, " ")+" ", " "+string(slug)+" "); n {
		case 1:
		case 0:
			t.Errorf("docs/problems.md has no \"## %s\" section; the type URI %s%s leads nowhere", slug, TypeBase, slug)
		default:
			t.Errorf("docs/problems.md has %d sections for %q; GitHub suffixes the later anchors", n, slug)
		}
	}
	for _, a := range anchors {
		if !slices.Contains(listed, Slug(a)) {
			t.Errorf("docs/problems.md documents %q, which is no Slug constant", a)
		}
	}
	if !slices.Equal(anchors, slugStrings(listed)) {
		t.Errorf("docs/problems.md sections %v are not in the order of Slugs() %v", anchors, listed)
	}
}

func slugStrings(slugs []Slug) []string {
	s := make([]string, len(slugs))
	for i, slug := range slugs {
		s[i] = string(slug)
	}
	return s
}

// TestNewCallsUseSlugConstants parses every non-test Go file of the
// repository and checks that each call of problem.New (New inside this
// package) passes one of the Slug constants, never a literal or a
// variable, so that a new problem type cannot skip its documentation.
func TestNewCallsUseSlugConstants(t *testing.T) {
	consts := slugConstants(t)
	fset := token.NewFileSet()
	calls := 0
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inPackage := filepath.Dir(path) == filepath.Join(repoRoot, "problem") // this package's own files
		local := ""                                                           // the name this file imports the package as
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == importPath {
				local = "problem"
				if imp.Name != nil {
					local = imp.Name.Name
				}
			}
		}
		if !inPackage && local == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isNewCall(call.Fun, inPackage, local) {
				return true
			}
			calls++
			pos := fset.Position(call.Pos())
			if len(call.Args) != 3 {
				t.Errorf("%s: problem.New with %d arguments", pos, len(call.Args))
				return true
			}
			if name, ok := slugArg(call.Args[1], inPackage, local); !ok {
				t.Errorf("%s: problem.New's slug must be a problem.Slug… constant, got %s", pos, exprString(fset, call.Args[1]))
			} else if _, known := consts[name]; !known {
				t.Errorf("%s: problem.New uses %s, which is no Slug constant", pos, name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 10 {
		t.Errorf("found only %d problem.New calls; is the walk looking at the repository?", calls)
	}
}

// isNewCall reports whether fun names this package's New.
func isNewCall(fun ast.Expr, inPackage bool, local string) bool {
	switch f := fun.(type) {
	case *ast.Ident:
		return inPackage && f.Name == "New"
	case *ast.SelectorExpr:
		x, ok := f.X.(*ast.Ident)
		return ok && local != "" && x.Name == local && f.Sel.Name == "New"
	}
	return false
}

// slugArg returns the constant name arg refers to, when it is a plain
// reference to a package-level identifier of this package.
func slugArg(arg ast.Expr, inPackage bool, local string) (string, bool) {
	switch a := arg.(type) {
	case *ast.Ident:
		return a.Name, inPackage
	case *ast.SelectorExpr:
		x, ok := a.X.(*ast.Ident)
		return a.Sel.Name, ok && x.Name == local
	}
	return "", false
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	_ = printer.Fprint(&b, fset, e)
	return b.String()
}
