package main

// The documentation's runnable examples are executed against a fresh server, so that the docs
// cannot drift from the program. A shell block is runnable when the line before its opening
// fence is exactly "<!-- runnable -->" (invisible on a rendered page). The runnable blocks of
// one file run in order in one bash process (variables carry over) with "set -euo pipefail",
// and curl fails on any HTTP error status, so a changed route or answer fails the test.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const runnableMark = "<!-- runnable -->"

// runnableBlocks returns the bodies of the runnable shell blocks of a Markdown text, in order.
func runnableBlocks(text string) []string {
	var blocks []string
	var cur []string
	in, keep, prev := false, false, ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !in && strings.HasPrefix(line, "```"):
			in, keep, cur = true, strings.TrimSpace(prev) == runnableMark, nil
		case in && strings.TrimSpace(line) == "```":
			if keep {
				blocks = append(blocks, strings.Join(cur, "\n"))
			}
			in = false
		case in:
			cur = append(cur, line)
		}
		prev = line
	}
	return blocks
}

func TestRunnableBlocksParse(t *testing.T) {
	md := "text\n<!-- runnable -->\n```sh\necho a\necho b\n```\n```sh\necho skipped\n```\n" +
		"<!-- runnable -->\n```sh\necho c\n```\n"
	got := runnableBlocks(md)
	if len(got) != 2 || got[0] != "echo a\necho b" || got[1] != "echo c" {
		t.Fatalf("got %q", got)
	}
}

// docsPassword is the admin password of the server the examples run against: the server loads
// testdata/seed.json (the seed the docs' examples use, which creates admin and sing), whose admin
// password this is. The examples read it from $PW, as the README tells a reader to set it.
const docsPassword = "change-me"

func TestRunnableDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed to run the documentation's examples: %v", tool, err)
			}
			t.Skipf("%s not installed: the documentation's examples are not run", tool)
		}
	}
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"README.md"}, files...)
	total := 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		blocks := runnableBlocks(string(raw))
		if len(blocks) == 0 {
			continue
		}
		total += len(blocks)
		t.Run(file, func(t *testing.T) {
			dir := t.TempDir()
			s := start(t, "--db", filepath.Join(dir, "rocketlite.db"), "--seed", "testdata/seed.json")
			script := "set -euo pipefail\n" +
				"curl() { command curl --silent --show-error --fail-with-body --max-time 20 \"$@\"; }\n" +
				strings.ReplaceAll(strings.Join(blocks, "\n"), "http://localhost:3000", s.base) + "\n"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PW="+docsPassword)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the runnable examples of %s failed: %v\n--- script\n%s\n--- output\n%s", file, err, script, out)
			}
		})
	}
	if total == 0 {
		t.Fatal("no runnable example found in README.md or docs/: the marker is " + runnableMark)
	}
}
