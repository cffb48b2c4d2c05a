package jsonbody

import "testing"

func TestFormatBytes(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{1 << 20, "1048576 bytes (1 MiB)"}, {4 << 10, "4096 bytes (4 KiB)"}, {1000, "1000 bytes"}, {1536 << 10, "1572864 bytes (1536 KiB)"},
	} {
		if got := FormatBytes(tt.in); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
