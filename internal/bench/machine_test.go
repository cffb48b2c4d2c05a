package bench

import "testing"

func TestMachineParsers(t *testing.T) {
	if got := cpuModel("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := memTotal("MemTotal:       24683628 kB\nMemFree:        22960000 kB\n"); got != 24683628<<10 {
		t.Errorf("memTotal = %d", got)
	}
	if got := osRelease("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osRelease = %q", got)
	}
	ctrOut := "Client:\n  Version:  1.6.20~ds1\n  Revision: x\n\nServer:\n  Version:  1.7.0\n  Revision: y\n"
	if got := ctrServerVersion(ctrOut); got != "1.7.0" {
		t.Errorf("ctrServerVersion = %q, want the daemon's, not the client's", got)
	}
	if got := ctrServerVersion("Client:\n  Version: 1.6.20\n"); got != "" {
		t.Errorf("ctrServerVersion without a server = %q", got)
	}
}
