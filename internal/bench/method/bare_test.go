package method

import (
	"context"
	"os/exec"
	"testing"
)

func TestBareRunsPythonOnTheHost(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on this host")
	}
	b, err := NewBare(context.Background(), python, "g++", t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	p := Program{Name: "python-hello", Language: "python", Code: "print(\"hello world\")\n", Want: "hello world\n"}
	o := b.Run(context.Background(), p)
	if o.Err != nil || o.Stdout != p.Want || o.Elapsed <= 0 {
		t.Fatalf("outcome %+v", o)
	}
	p.Code = "import sys; sys.exit(3)"
	if o := b.Run(context.Background(), p); o.Err == nil {
		t.Error("a failing program is no error")
	}
}
