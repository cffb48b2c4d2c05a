package api

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("got %v, want the defaults to be valid", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{name: "a zero body limit is refused", change: func(c *Config) { c.MaxBodyBytes = 0 },
			want: "MaxBodyBytes must be positive, got 0"},
		{name: "a zero code limit is refused", change: func(c *Config) { c.MaxCodeBytes = 0 },
			want: "MaxCodeBytes must be positive, got 0"},
		{name: "a code limit as large as the body limit is refused", change: func(c *Config) { c.MaxCodeBytes = 1 << 20 },
			want: "MaxCodeBytes (1048576) must be less than MaxBodyBytes (1048576)"},
		{name: "an input limit as large as the body limit is refused", change: func(c *Config) { c.MaxInputBytes = 2 << 20 },
			want: "MaxInputBytes (2097152) must be less than MaxBodyBytes (1048576)"},
		{name: "a negative input limit is refused", change: func(c *Config) { c.MaxInputBytes = -1 },
			want: "MaxInputBytes must not be negative, got -1"},
		{name: "a zero input limit is allowed", change: func(c *Config) { c.MaxInputBytes = 0 }},
		{name: "a negative rate limit is refused", change: func(c *Config) { c.RateLimit = -1 },
			want: "RateLimit must not be negative (0 disables it), got -1"},
		{name: "a sub-second rate window is refused", change: func(c *Config) { c.RateWindow = time.Millisecond },
			want: "RateWindow must be at least 1s when RateLimit is set, got 1ms"},
		{name: "no rate window is fine when the limiter is off", change: func(c *Config) { c.RateLimit, c.RateWindow = 0, 0 }},
		{name: "no languages is refused", change: func(c *Config) { c.Languages = nil },
			want: "Languages must name at least one language"},
		{name: "an empty language name is refused", change: func(c *Config) { c.Languages = []string{"python", ""} },
			want: "Languages[1] is empty"},
		{name: "a repeated language is refused", change: func(c *Config) { c.Languages = []string{"python", "cpp", "python"} },
			want: `Languages lists "python" twice`},
		{name: "a zero busy retry is refused", change: func(c *Config) { c.BusyRetryAfter = 0 },
			want: "BusyRetryAfter must be positive, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("got nil, want the zero Config refused")
	}
	for _, want := range []string{"MaxBodyBytes", "MaxCodeBytes", "Languages", "BusyRetryAfter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to mention %s", err, want)
		}
	}
}
