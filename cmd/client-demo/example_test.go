package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Example drives the command layer in-process, the way main does: a task
// is added and completed offline, an invalid rename is refused with exit
// code 1 and nothing written, and the completion reaches the effects log.
func Example() {
	dir, _ := os.MkdirTemp("", "client-demo-example-")
	defer os.RemoveAll(dir)
	env := map[string]string{"FERRY_DB": filepath.Join(dir, "laptop.db"), "FERRY_DEVICE": "laptop"}
	getenv := func(k string) string { return env[k] }
	cli := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, getenv, &out, &errOut)
		return code, out.String() + errOut.String()
	}

	_, id := cli("add", "buy milk")
	id = strings.TrimSpace(id)
	cli("complete", id)
	code, msg := cli("rename", id, "")
	fmt.Printf("exit %d: %s", code, msg)

	_, list := cli("list", "--json")
	var tasks []struct {
		Title string
		Done  bool
	}
	_ = json.Unmarshal([]byte(list), &tasks)
	fmt.Printf("%d task: %q done=%v\n", len(tasks), tasks[0].Title, tasks[0].Done)

	log, _ := os.ReadFile(filepath.Join(dir, "laptop.effects.log"))
	fmt.Println("effects log:", strings.Contains(string(log), "completed "+id+" buy milk"))
	// Output:
	// exit 1: client-demo: invalid title: must not be empty
	// 1 task: "buy milk" done=true
	// effects log: true
}
