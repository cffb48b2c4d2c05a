package bench

import (
	"encoding/binary"
	"os"
	"os/exec"
	"testing"
)

// acctRecord builds one acct_v3 record.
func acctRecord(comm string, utime, stime uint16) []byte {
	r := make([]byte, acctV3Size)
	r[1] = 3
	binary.NativeEndian.PutUint16(r[32:], utime)
	binary.NativeEndian.PutUint16(r[34:], stime)
	copy(r[48:], comm)
	return r
}

func TestPerCommand(t *testing.T) {
	var b []byte
	b = append(b, acctRecord("runc", 3, 1)...)    // 40 ms
	b = append(b, acctRecord("runc", 2, 0)...)    // 20 ms
	b = append(b, acctRecord("python3", 5, 0)...) // 50 ms
	// comp_t with exponent 1: 2 × 8 ticks = 160 ms.
	b = append(b, acctRecord("cc1plus", 1<<13|2, 0)...)
	got := perCommand(b, 2)
	want := []CommandCPU{
		{Command: "cc1plus", Processes: 0.5, CPUMS: 80},
		{Command: "runc", Processes: 1, CPUMS: 30},
		{Command: "python3", Processes: 0.5, CPUMS: 25},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if perCommand(b, 0) != nil {
		t.Error("zero runs: want nil")
	}
}

// TestAccountingSeesAnExitedProcess turns the kernel's accounting on (as
// root), runs a process and finds it in the records.
func TestAccountingSeesAnExitedProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("acct(2) needs root")
	}
	a, err := startAccounting(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done").Run(); err != nil {
		a.stop(1)
		t.Fatal(err)
	}
	got, err := a.stop(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Command == "sh" && c.Processes >= 1 {
			return
		}
	}
	t.Errorf("no record of the sh that exited: %+v", got)
}
