package main

import (
	"errors"
	"io"
	"testing"

	"rocketlite/handlers"
)

func TestPageCacheFlag(t *testing.T) {
	parse := func(args []string, env map[string]string) (*serveConfig, error) {
		return parseServe(args, func(k string) string { return env[k] }, io.Discard)
	}
	c, err := parse(nil, nil)
	if err != nil || c.pageCache != handlers.DefaultPageCacheBytes || offIsNegative(c.pageCache) != handlers.DefaultPageCacheBytes {
		t.Fatalf("default: %v %+v", err, c)
	}
	c, err = parse([]string{"--page-cache", "0"}, nil)
	if err != nil || offIsNegative(c.pageCache) >= 0 {
		t.Fatalf("--page-cache 0 must turn the cache off: %v %+v", err, c)
	}
	c, err = parse(nil, map[string]string{"ROCKETLITE_PAGE_CACHE": "16M"})
	if err != nil || c.pageCache != 16<<20 {
		t.Fatalf("environment: %v %+v", err, c)
	}
	c, err = parse([]string{"--page-cache", "2M"}, map[string]string{"ROCKETLITE_PAGE_CACHE": "16M"})
	if err != nil || c.pageCache != 2<<20 {
		t.Fatalf("flag over environment: %v %+v", err, c)
	}
	for _, bad := range []string{"lots", "-1M"} {
		_, err := parse([]string{"--page-cache", bad}, nil)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("--page-cache %s: %v", bad, err)
		}
	}
}
