package gate

import (
	"fmt"
	"testing"
)

func TestScanQuery(t *testing.T) {
	for _, tt := range []struct {
		text, want string
	}{
		{"SELECT :a, @b, $c, :a", "SELECT [a b c] false"},
		{"select ':no', \"@no\", [$no], `:no` -- :no\n /* @no */ , :yes", "SELECT [yes] false"},
		{"SELECT 1; ", "SELECT [] false"},
		{"SELECT 1; -- done\n", "SELECT [] false"},
		{"SELECT 1; DELETE FROM t", "SELECT [] true"},
		{"SELECT 'a;b'", "SELECT [] false"},
		{"  /* c */ with x as (select 1) select * from x where y = :y", "WITH [y] false"},
		{"(SELECT 1)", "( [] false"},
		{"SELECT 'it''s :no' || :p", "SELECT [p] false"},
	} {
		k, p, more := scanQuery(tt.text)
		if p == nil {
			p = []string{}
		}
		if got := fmt.Sprint(k, " ", p, " ", more); got != tt.want {
			t.Errorf("scanQuery(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}
