// {{name}}: the Go host of a small desktop-style app.
//
// ppm builds what this component needs (a Rust and a C static library, a TypeScript UI) and
// stages their outputs under ppm_deps/<component>/ inside the module it builds: cgo links the
// libraries in, go:embed embeds the UI. The result is one executable per target.
//
//	{{name}}                 one line per language
//	{{name}} --self-check    exit 0 if every component answers correctly
//	{{name}} ui --out DIR    write the embedded UI (index.html, ui.js, ui.css) to DIR
package main

/*
#cgo LDFLAGS: ${SRCDIR}/ppm_deps/core/libcore_rs.a ${SRCDIR}/ppm_deps/cmath/libcmath.a
#cgo linux LDFLAGS: -lunwind -ldl -lpthread -lm
#cgo windows LDFLAGS: -lunwind -lws2_32 -luserenv -lntdll -lbcrypt -ladvapi32
#include <stddef.h>
#include <stdint.h>

uint64_t core_fibonacci(uint32_t n);
size_t core_version(uint8_t *buf, size_t len);
uint64_t cmath_gcd(uint64_t a, uint64_t b);
uint32_t cmath_count_primes(uint32_t n);
*/
import "C"

import (
	"crypto/sha256"
	"embed"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"
)

const app = "{{name}}"

//go:embed ppm_deps/ui
var uiFiles embed.FS

func rust() (string, error) {
	fib := uint64(C.core_fibonacci(20))
	if fib != 6765 {
		return "", fmt.Errorf("core_fibonacci(20) returned %d, expected 6765", fib)
	}
	buf := make([]byte, 64)
	n := C.core_version((*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return fmt.Sprintf("fibonacci(20) = %d (%s)", fib, string(buf[:n])), nil
}

func cmath() (string, error) {
	gcd := uint64(C.cmath_gcd(1071, 462))
	primes := uint32(C.cmath_count_primes(100))
	if gcd != 21 || primes != 25 {
		return "", fmt.Errorf("cmath_gcd(1071, 462) = %d, cmath_count_primes(100) = %d; expected 21 and 25", gcd, primes)
	}
	return fmt.Sprintf("gcd(1071, 462) = %d, primes up to 100 = %d", gcd, primes), nil
}

func typescript() (string, error) {
	total, digest := 0, sha256.New()
	for _, name := range []string{"index.html", "ui.js", "ui.css"} {
		data, err := uiFiles.ReadFile("ppm_deps/ui/" + name)
		if err != nil {
			return "", fmt.Errorf("the embedded UI has no %s: %v", name, err)
		}
		total += len(data)
		digest.Write(data)
	}
	return fmt.Sprintf("ui bundle %d bytes (index.html, ui.js, ui.css) sha256 %x", total, digest.Sum(nil)[:6]), nil
}

func golang() (string, error) {
	return fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH), nil
}

type check struct {
	language, component string
	run                 func() (string, error)
}

var checks = []check{
	{"go", "app", golang},
	{"rust", "core", rust},
	{"c", "cmath", cmath},
	{"typescript", "ui", typescript},
}

func report() int {
	fmt.Printf("%s: one executable, four languages (%s/%s)\n", app, runtime.GOOS, runtime.GOARCH)
	status := 0
	for _, c := range checks {
		line, err := c.run()
		if err != nil {
			fmt.Printf("%s: error: %v\n", c.language, err)
			status = 1
			continue
		}
		fmt.Printf("%s: %s\n", c.language, line)
	}
	return status
}

func selfCheck() int {
	failed := 0
	for _, c := range checks {
		if _, err := c.run(); err != nil {
			fmt.Printf("FAIL  %s: %v\n", c.component, err)
			failed++
			continue
		}
		fmt.Printf("ok    %s\n", c.component)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func writeUI(dir string) int {
	sub, _ := fs.Sub(uiFiles, "ppm_deps/ui")
	err := fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		dest := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dest, data, 0o644)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app, err)
		return 1
	}
	fmt.Printf("wrote the UI to %s\n", dir)
	return 0
}

func main() {
	selfCheckFlag := flag.Bool("self-check", false, "exit 0 if every component answers correctly")
	flag.Parse()
	switch {
	case *selfCheckFlag:
		os.Exit(selfCheck())
	case flag.NArg() == 3 && flag.Arg(0) == "ui" && flag.Arg(1) == "--out":
		os.Exit(writeUI(flag.Arg(2)))
	case flag.NArg() > 0:
		fmt.Fprintf(os.Stderr, "usage: %s [--self-check] | ui --out DIR\n", app)
		os.Exit(2)
	}
	os.Exit(report())
}
