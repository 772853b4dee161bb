// Package tap is a minimal stand-in for github.com/mndrix/tap-go, which no
// Debian package ships. It implements only the API subset the runtime-tools
// validation programs and runtimetest use (Header, Ok, Pass, Fail, Skip,
// Todo, Count, AutoPlan, Diagnostic(f), YAML), printing TAP version 13 the
// same way upstream does (YAML blocks are JSON-encoded, upstream's default
// build without the "yaml" tag).
package tap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// T is a TAP producer.
type T struct {
	nextTestNumber *int
	// TODO marks every following test result as a TODO.
	TODO bool
	// Writer receives the TAP stream (os.Stdout when nil).
	Writer io.Writer
}

// New returns a producer whose first test is number 1.
func New() *T {
	n := 1
	return &T{nextTestNumber: &n}
}

func (t *T) printf(format string, a ...interface{}) {
	w := t.Writer
	if w == nil {
		w = os.Stdout
	}
	fmt.Fprintf(w, format, a...)
}

// Header prints the TAP version line and, if testCount > 0, the plan.
func (t *T) Header(testCount int) {
	t.printf("TAP version 13\n")
	if testCount > 0 {
		t.printf("1..%d\n", testCount)
	}
}

// Ok reports one test result.
func (t *T) Ok(test bool, description string) {
	ok := "ok"
	if !test {
		ok = "not ok"
	}
	if t.TODO {
		t.printf("%s %d # TODO %s\n", ok, *t.nextTestNumber, description)
	} else {
		t.printf("%s %d - %s\n", ok, *t.nextTestNumber, description)
	}
	*t.nextTestNumber++
}

// Fail reports a failed test.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Pass reports a passed test.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Count is the number of tests reported so far.
func (t *T) Count() int { return *t.nextTestNumber - 1 }

// AutoPlan prints the plan for the tests reported so far.
func (t *T) AutoPlan() { t.printf("1..%d\n", t.Count()) }

func escapeNewlines(s string) string { return strings.Replace(s, "\n", "\n# ", -1) }

// Diagnosticf prints a formatted diagnostic comment.
func (t *T) Diagnosticf(format string, a ...interface{}) {
	t.printf("# "+escapeNewlines(format)+"\n", a...)
}

// Diagnostic prints a diagnostic comment.
func (t *T) Diagnostic(message string) { t.printf("# %s\n", escapeNewlines(message)) }

// Skip reports count skipped tests.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.printf("ok %d # SKIP %s\n", *t.nextTestNumber, description)
		*t.nextTestNumber++
	}
}

// Todo returns a producer sharing the numbering whose results are TODOs.
func (t *T) Todo() *T {
	n := *t
	n.TODO = true
	return &n
}

// YAML prints message as an indented YAML (JSON) diagnostic block.
func (t *T) YAML(message interface{}) error {
	b, err := json.MarshalIndent(message, "  ", "  ")
	if err != nil {
		return err
	}
	t.printf("  ---\n  %s\n  ...\n", b)
	return nil
}
