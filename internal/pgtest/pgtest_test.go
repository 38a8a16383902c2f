package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestURLGate runs a child test without a URL, once plain and once with
// EnvRequire=1: the first must skip, the second must fail.
func TestURLGate(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		URL(t)
		t.Log("reached past the gate")
		return
	}
	run := func(require string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestURLGate$", "-test.v")
		cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", EnvURL+"=", EnvRequire+"="+require)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("")
	assert.NoError(t, err, out)
	assert.Contains(t, out, "SKIP")
	out, err = run("1")
	assert.Error(t, err, out)
	assert.True(t, strings.Contains(out, "FAIL") && strings.Contains(out, EnvRequire), out)
}
