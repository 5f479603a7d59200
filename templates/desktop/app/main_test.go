package main

// `ppm test` runs these with `go test`, in the same staged module the build uses: the Rust and
// C static libraries link through cgo, and the UI bundle is embedded, as in the executable.

import "testing"

func TestEveryComponentAnswers(t *testing.T) {
	for _, c := range checks {
		if _, err := c.run(); err != nil {
			t.Errorf("%s (%s): %v", c.component, c.language, err)
		}
	}
}

func TestRustFibonacci(t *testing.T) {
	line, err := rust()
	if err != nil {
		t.Fatal(err)
	}
	if want := "fibonacci(20) = 6765"; len(line) < len(want) || line[:len(want)] != want {
		t.Errorf("rust() = %q, want it to start with %q", line, want)
	}
}
