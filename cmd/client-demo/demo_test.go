package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoScript runs scripts/demo.sh (what `make demo` runs) and checks
// that it tells the whole story and succeeds.
func TestDemoScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	cmd := exec.Command("bash", "scripts/demo.sh")
	cmd.Dir = "../.."
	b, err := cmd.CombinedOutput()
	out := string(b)
	require.NoError(t, err, "demo.sh failed:\n%s", out)

	for _, want := range []string{
		"==> starting syncd on a free loopback port",
		"==> stopping syncd: both devices are offline from now on",
		"client-demo: sync failed: hub unreachable at ws://127.0.0.1:",
		"(exit status 3: sync failed; every write above worked offline)",
		"pending       2 events not yet pushed",
		"==> restarting syncd on the same address",
		"the two lists are identical (list --all --json): the devices converged",
		"buy soy milk",
		"outdated=true",
	} {
		assert.Contains(t, out, want)
	}
	// Each device logged its own completion, once.
	logs := out[strings.Index(out, "==> effects logs"):]
	lines := regexp.MustCompile(`(?m)^    [0-9A-Z]{26} completed [0-9a-z]{26} (.*)$`).FindAllStringSubmatch(logs, -1)
	require.Len(t, lines, 2, logs)
	assert.Equal(t, "call mum", lines[0][1], "the laptop's log")
	assert.Equal(t, "write docs", lines[1][1], "the phone's log")
	// Nothing is left behind.
	dir := regexp.MustCompile(`removing (\S+)`).FindStringSubmatch(out)
	require.Len(t, dir, 2)
	assert.NoDirExists(t, dir[1])
}
