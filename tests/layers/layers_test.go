// Package layers checks that syncfs's packages point one way, as
// docs/design.md's data-flow section draws them (restic enforces the same
// with depguard). A package listed here must not depend, directly or
// through others, on the packages it forbids.
package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/syncfs/syncfs/"

// forbidden maps a package (and its subpackages) to what it must not
// depend on (nor their subpackages).
var forbidden = map[string][]string{
	"format":    {"fs", "journal", "uploader", "remote", "browse", "reconcile", "verify", "daemon", "cmd"},
	"remote":    {"fs", "journal", "uploader", "browse", "reconcile", "verify", "format", "publish", "daemon", "cmd"},
	"journal":   {"fs", "remote", "uploader", "browse", "reconcile", "verify", "daemon", "cmd"},
	"fs":        {"uploader", "remote", "browse", "reconcile", "verify", "daemon", "cmd"},
	"uploader":  {"fs", "browse", "reconcile", "verify", "daemon", "cmd", "remote/file", "remote/s3", "remote/backend", "remote/mem"},
	"browse":    {"fs", "journal", "uploader", "reconcile", "verify", "daemon", "cmd"},
	"reconcile": {"fs", "uploader", "remote", "browse", "verify", "daemon", "cmd"},
	"verify":    {"fs", "journal", "uploader", "reconcile", "daemon", "cmd"},
	"daemon":    {"cmd"},
	"publish":   {"fs", "journal", "uploader", "browse", "reconcile", "verify", "format", "daemon", "cmd", "remote/file", "remote/s3", "remote/backend"},
}

func within(pkg, prefix string) bool {
	return pkg == mod+prefix || strings.HasPrefix(pkg, mod+prefix+"/")
}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkg, deps := f[0], f[1:]
		for layer, bad := range forbidden {
			if !within(pkg, layer) {
				continue
			}
			checked++
			for _, d := range deps {
				for _, b := range bad {
					if within(d, b) && !within(d, layer) {
						t.Errorf("%s depends on %s: %s must not depend on %s (docs/design.md, data flow)", strings.TrimPrefix(pkg, mod), strings.TrimPrefix(d, mod), layer, b)
					}
				}
			}
		}
	}
	if checked < len(forbidden) {
		t.Fatalf("checked %d packages, fewer than the %d layers: go list found too little", checked, len(forbidden))
	}
}
