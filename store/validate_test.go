package store

import (
	"strings"
	"testing"
)

func TestValidNameAndEmail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"general", true}, {"a.b-c_D9", true}, {strings.Repeat("n", MaxNameLen), true},
		{"", false}, {"with space", false}, {"é", false}, {"a/b", false},
		{strings.Repeat("n", MaxNameLen+1), false},
	} {
		if got := ValidName(tc.in); got != tc.want {
			t.Errorf("ValidName(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"a@b.org", true}, {"first.last@sub.example.org", true},
		{"", false}, {"a@b", false}, {"a b@c.org", false}, {"a@@b.org", false}, {"@b.org", false},
	} {
		if got := ValidEmail(tc.in); got != tc.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
