package testfmt_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferrysync/ferry/internal/testfmt"
)

// A stream as `go test -json` writes it: a package that passes, one with a
// failing test, one without tests, one that does not build.
const stream = `{"Action":"start","Package":"x/ok"}
{"Action":"run","Package":"x/ok","Test":"TestA"}
{"Action":"output","Package":"x/ok","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"x/ok","Test":"TestA","Elapsed":0.1}
{"Action":"run","Package":"x/ok","Test":"TestPG"}
{"Action":"output","Package":"x/ok","Test":"TestPG","Output":"    pg_test.go:12: no PostgreSQL: set FERRY_TEST_POSTGRES_URL\n"}
{"Action":"output","Package":"x/ok","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}
{"Action":"skip","Package":"x/ok","Test":"TestPG","Elapsed":0}
{"Action":"pass","Package":"x/ok","Elapsed":1.25}
{"Action":"start","Package":"x/bad"}
{"Action":"output","Package":"x/bad","Test":"TestB","Output":"    b_test.go:9: want 2, got 3\n"}
{"Action":"fail","Package":"x/bad","Test":"TestB","Elapsed":0}
{"Action":"output","Package":"x/bad","Output":"FAIL\n"}
{"Action":"fail","Package":"x/bad","Elapsed":0.5}
{"Action":"skip","Package":"x/none","Elapsed":0}
{"ImportPath":"x/broken [x/broken.test]","Action":"build-output","Output":"broken.go:3:1: syntax error\n"}
{"ImportPath":"x/broken [x/broken.test]","Action":"build-fail"}
{"Action":"fail","Package":"x/broken","Elapsed":0,"FailedBuild":"x/broken [x/broken.test]"}
# not json
`

func TestFormat(t *testing.T) {
	var out strings.Builder
	sum, err := testfmt.Format(strings.NewReader(stream), &out, 4)
	require.NoError(t, err)
	assert.Equal(t, testfmt.Summary{Passed: 1, Failed: 2, Skipped: 1, SkippedTests: 1}, sum)
	got := out.String()
	for _, want := range []string{
		"[1/4] ok   x/ok 1.2s\n",
		"--- FAIL: TestB (x/bad)\n    b_test.go:9: want 2, got 3\n",
		"[2/4] FAIL x/bad 0.5s\nFAIL\n",
		"[3/4] skip x/none 0.0s\n",
		"[4/4] FAIL x/broken 0.0s\nbroken.go:3:1: syntax error\n",
		"# not json\n",
		"--- SKIP: TestPG (x/ok): pg_test.go:12: no PostgreSQL: set FERRY_TEST_POSTGRES_URL\n",
		"FAIL: 1 packages passed, 2 failed, 1 without tests, 1 tests skipped",
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "=== RUN   TestA", "a passing test's output is not shown")
}

func TestFormatPass(t *testing.T) {
	var out strings.Builder
	sum, err := testfmt.Format(strings.NewReader(`{"Action":"pass","Package":"x/ok","Elapsed":2}`+"\n"), &out, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, sum.Failed)
	assert.Equal(t, "[1] ok   x/ok 2.0s\n", strings.SplitAfter(out.String(), "\n")[0])
	assert.Contains(t, out.String(), "PASS: 1 packages passed")
}
