package ginsession_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A login over another user's session starts clean; a login over an
// anonymous session, or again as the same user, keeps the values.
func TestLoginOverAnotherUserStartsClean(t *testing.T) {
	cases := []struct {
		name     string
		first    string // "" anonymous
		second   string
		wantKept bool
	}{
		{"anonymous then alice", "", "1", true},
		{"alice then alice", "1", "1", true},
		{"alice then bob", "1", "2", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, nil, nil)
			c := a.client()
			if tc.first != "" {
				c.post("/login/" + tc.first)
			}
			c.post("/set/secret?v=s3cret")
			c.post("/login/" + tc.second)
			assert.Equal(t, tc.second, c.get("/whoami"))
			want := "missing"
			if tc.wantKept {
				want = "s3cret"
			}
			assert.Equal(t, want, c.get("/get/secret"))
		})
	}
}
