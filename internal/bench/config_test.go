package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	t.Run("the defaults start the warm instance with a pool and the cold one without", func(t *testing.T) {
		c := DefaultConfig()
		c.Binary = "/bin/codeexec"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.ColdArgs, []string{"--pool-size", "0"}) || !slices.Equal(c.WarmArgs, []string{"--pool-size", "4"}) {
			t.Errorf("cold %v warm %v", c.ColdArgs, c.WarmArgs)
		}
		if c.Runs != 50 || c.Warmup != 5 || c.Concurrency != 4 || !slices.Equal(c.concurrencies(), []int{1, 4}) {
			t.Errorf("defaults: %+v", c)
		}
	})
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"zero runs are refused", func(c *Config) { c.Runs = 0 }, "runs 0"},
		{"an unknown program names the choices", func(c *Config) { c.Programs = []string{"cobol-hello"} }, "python-hello"},
		{"an unknown method names the choices", func(c *Config) { c.Methods = []string{"podman"} }, "bare"},
		{"the service methods need a binary", func(c *Config) { c.Binary = "" }, "binary"},
		{"concurrency must be positive", func(c *Config) { c.Concurrency = 0 }, "concurrency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Binary = "/bin/codeexec"
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("no throughput duration and no runs measure no throughput", func(t *testing.T) {
		c := DefaultConfig()
		c.ThroughputDuration = 0
		if got := c.concurrencies(); got != nil {
			t.Errorf("got %v", got)
		}
	})
}
