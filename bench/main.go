// Command bench is rocketlite's load tool. It has three modes.
//
// Load (the default) drives one workload against a running server on this machine and prints
// throughput, latency percentiles and errors:
//
//	go run ./bench -addr http://127.0.0.1:3000 -password ADMINPASS -workload send -c 64 -d 10s
//
// It only talks to the address given, which must be a loopback address, and stops by itself
// after -d (and after -n requests, if set).
//
// Fill writes straight into the database file of a stopped server, in big transactions, so a
// room of a million messages takes seconds instead of an hour of sends:
//
//	go run ./bench -fill-db rocketlite.db -n 1000000 -users 64 -password ADMINPASS
//
// It applies the default seed and creates the admin if the file is new, creates -users users
// named bench1…benchN (password -user-password) and the public room -room, and appends -n
// messages to it.
//
// Attack (-attack) runs one bounded probe for each availability item of issue 9 against a
// running server and prints what it saw; it fails only on a 500 or a server that stops
// answering (.ci/attack.sh runs it against the built binary):
//
//	go run ./bench -attack -addr http://127.0.0.1:3000 -password ADMINPASS -server-pid PID
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

type config struct {
	addr, subAddr, user, password, room, workload string
	conns, n, users, count, chunk                 int
	textSize                                      int
	duration, warmup, timeout                     time.Duration
	userPassword, fillDB                          string
	sendEvery, subscribers                        int
	rate                                          float64
	wrkEnv, compact                               bool
	txid                                          string
	attack                                        bool
	serverPID                                     int
	cpuProfile                                    string
	subRoom                                       string
}

const maxDuration = 10 * time.Minute

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "http://127.0.0.1:3000", "server address (loopback only)")
	fs.StringVar(&c.subAddr, "sub-addr", "", "realtime, idle: address of the node the subscribers connect to (default -addr; another node of the same PostgreSQL measures cross-node delivery)")
	fs.StringVar(&c.user, "user", "admin", "admin user name")
	fs.StringVar(&c.password, "password", os.Getenv("ROCKETLITE_BENCH_PASSWORD"), "admin password (default $ROCKETLITE_BENCH_PASSWORD)")
	fs.StringVar(&c.room, "room", "bench", "room name or id to send to and read from")
	fs.StringVar(&c.subRoom, "sub-room", "", "realtime, fanout: public room (name or id) the subscribers listen to, if not -room: sockets attached to another room, which the sends must not reach")
	fs.StringVar(&c.workload, "workload", "send", "send, history, login, mixed (history with one send in -send-every), badjoin (half the connections send, half join a room that does not exist), realtime (DDP subscribers, REST posts at -rate), fanout (REST send rate without, then with -subscribers, in one run), idle (DDP subscribers only) or gotify (the realtime workload against Gotify's /stream at -addr, admin -user/-password)")
	fs.IntVar(&c.subscribers, "subscribers", 100, "realtime, fanout, idle, gotify: websocket subscribers")
	fs.Float64Var(&c.rate, "rate", 100, "realtime, gotify: messages posted per second (0: as fast as -c senders go)")
	fs.IntVar(&c.conns, "c", 64, "concurrent connections")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "measured duration (at most 10m)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured run before -d")
	fs.IntVar(&c.n, "n", 0, "load: stop after this many requests (0: no count bound); fill: messages to append")
	fs.IntVar(&c.users, "users", 0, "load: spread requests over users bench1…benchN (0: the admin only); fill: users to create")
	fs.StringVar(&c.userPassword, "user-password", "benchpass", "password of the bench users")
	fs.IntVar(&c.count, "count", 50, "history page size")
	fs.IntVar(&c.sendEvery, "send-every", 5, "mixed: one request in this many is a send")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&c.wrkEnv, "wrk-env", false, "log in, print RL_UID, RL_TOKEN and RL_ROOM for the bench/wrk scripts, and exit")
	fs.StringVar(&c.fillDB, "fill-db", "", "fill mode: database file of a stopped server")
	fs.BoolVar(&c.compact, "compact", true, "fill: compact the file afterwards (no leftover free pages)")
	fs.IntVar(&c.chunk, "chunk", 50000, "fill: messages per transaction")
	fs.IntVar(&c.textSize, "text-size", 0, "fill: pad each message's text to at least this many bytes (legal up to 5000 characters)")
	fs.StringVar(&c.txid, "txid", "", "print the last transaction id of this database file (of a stopped server) and exit: commits between two runs")
	fs.BoolVar(&c.attack, "attack", false, "run the attack scenario of issue 9 (one bounded probe per item 1–10) and exit; fails only on a 500 or a server that stops answering")
	fs.IntVar(&c.serverPID, "server-pid", 0, "attack: the server's process id, to print its memory; realtime, fanout, gotify: to print its CPU time per send (optional)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the bench tool's own CPU profile to this file (where the load generator's time goes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.txid != "" {
		return printTxID(c.txid, stdout)
	}
	if c.fillDB != "" {
		return fill(c, stdout)
	}
	switch {
	case c.conns < 1 || c.conns > 4096:
		return errors.New("-c must be from 1 to 4096")
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("-d must be positive and at most %s", maxDuration)
	case c.warmup < 0 || c.warmup > time.Minute:
		return errors.New("-warmup must be from 0 to 1m")
	case c.subscribers < 1 || c.subscribers > 50000 || c.rate < 0 || c.rate > 10000:
		return errors.New("-subscribers must be from 1 to 50000 and -rate from 0 to 10000")
	case c.n < 0 || c.users < 0 || c.sendEvery < 1:
		return errors.New("-n and -users must not be negative, -send-every must be positive")
	case c.password == "":
		return errors.New("-password (or $ROCKETLITE_BENCH_PASSWORD) is required")
	}
	if err := checkLoopback(c.addr); err != nil {
		return err
	}
	if c.subAddr != "" {
		if err := checkLoopback(c.subAddr); err != nil {
			return err
		}
	}
	if c.attack {
		return attack(ctx, c, stdout)
	}
	if c.workload == "gotify" {
		return gotifyLoad(ctx, c, stdout)
	}
	return load(ctx, c, stdout)
}
