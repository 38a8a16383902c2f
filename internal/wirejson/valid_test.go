package wirejson

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var jsonCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.0E-3`, `true`, `false`, `null`,
	` {"a" : [1, 2.5, "x", true, false, null, {}, []] } `, "\t\r\n[ ]\n",
	`{"title":"buy milk","done":false,"n":12345,"tags":["a","b"],"at":{"lat":1.5,"lng":-2}}`,
	`"esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`, "\"caf\xc3\xa9\"", "\"\xff\xfe\"",
	`{"a":1,"a":2}`, `[[[[[[[[[[]]]]]]]]]]`,
	// invalid
	``, ` `, `{`, `}`, `[`, `]`, `{]`, `[}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`, `[1,]`,
	`[,1]`, `{,}`, `[1 2]`, `{"a":1 "b":2}`, `{} {}`, `1 2`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`,
	`0x10`, `NaN`, `Infinity`, `tru`, `nul`, `falsey`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"\x01\"",
	"\"a\nb\"", `'a'`, `[1]]`, `{"a":[}`, `[{"a":1]}`, "\x00", "1\x00", `"\`, `"\u`, `"\u123`,
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		assert.Equal(t, json.Valid([]byte(c)), Valid([]byte(c)), "%q", c)
	}
	// Spot-check that the table holds both kinds.
	assert.True(t, Valid([]byte(jsonCases[12])))
	assert.False(t, Valid([]byte(`{"a":1,}`)))
}

// TestValidJSONDepth: encoding/json accepts 10,000 levels of nesting and
// refuses 10,001; so does Valid, for both container kinds.
func TestValidJSONDepth(t *testing.T) {
	for _, d := range []int{63, 64, 65, maxJSONDepth, maxJSONDepth + 1} {
		arr := strings.Repeat("[", d) + strings.Repeat("]", d)
		obj := strings.Repeat(`{"k":`, d-1) + `{}` + strings.Repeat("}", d-1)
		mixed := strings.Repeat(`[{"k":`, d/2) + strings.Repeat("[", d%2) + `0` + strings.Repeat("]", d%2) + strings.Repeat("}]", d/2)
		for _, doc := range []string{arr, obj, mixed} {
			want := json.Valid([]byte(doc))
			assert.Equal(t, want, Valid([]byte(doc)), "depth %d: %.20s", d, doc)
			assert.Equal(t, d <= maxJSONDepth, want, "encoding/json's limit moved")
		}
	}
	// A mismatched closer deep inside is still caught.
	assert.False(t, Valid([]byte(strings.Repeat("[", 100)+"}"+strings.Repeat("]", 99))))
}

// FuzzValidJSON: Valid and encoding/json.Valid agree on every input.
func FuzzValidJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// BenchmarkValidJSON checks a typical event payload with Valid and,
// in alternating runs of 100 calls, with encoding/json.Valid (the
// baseline): x_baseline is how many times faster Valid is.
func BenchmarkValidJSON(b *testing.B) {
	doc := []byte(`{"n":12345,"title":"item number 12345 of the catch-up backlog","tags":["bench","catchup"],"done":false,"at":1.5e3}`)
	const run = 100
	var mine, std time.Duration
	b.SetBytes(int64(len(doc)) * run)
	for b.Loop() {
		ok := true
		t0 := time.Now()
		for range run {
			ok = Valid(doc) && ok
		}
		t1 := time.Now()
		for range run {
			ok = json.Valid(doc) && ok
		}
		std += time.Since(t1)
		mine += t1.Sub(t0)
		if !ok {
			b.Fatal("payload is not valid")
		}
	}
	b.ReportMetric(std.Seconds()/mine.Seconds(), "x_baseline")
}
