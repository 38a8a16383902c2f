package tenants_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ferrysync/ferry/sync/hub/tenants"
)

// File names stay as syncd has always named them, so existing data
// directories keep working.
func TestFile(t *testing.T) {
	a, b := tenants.File("acme/../x"), tenants.File("acme_.._x")
	assert.NotEqual(t, a, b)
	assert.NotContains(t, a, "/")
	assert.True(t, strings.HasPrefix(a, "acme____x-"))
	assert.Equal(t, a, tenants.File("acme/../x"))
	assert.LessOrEqual(t, len(tenants.File(strings.Repeat("é", 300))), 80)
	// Names computed by syncd before the pool moved here.
	assert.Equal(t, "acme-822b33ad87c148a0.db", tenants.File("acme"))
	assert.Equal(t, "Globex_Corp__-f2bb482bfaec9d81.db", tenants.File("Globex Corp/π"))
}
