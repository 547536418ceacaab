package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"

	"github.com/gofiber/fiber/v2"
)

// serveFloor is the child of the floor run: a Fiber app on its defaults
// that reads each request's form and answers as the service answers a
// status callback (204), with no
// signature check, no logging, no metrics and no database. It is the
// least an HTTP service in Go costs per webhook on this machine, the part
// of a webhook's cost that no work on the store can remove.
func serveFloor() error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/*", func(c *fiber.Ctx) error {
		if c.FormValue("CallSid") == "" {
			return c.SendStatus(fiber.StatusBadRequest)
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	go func() { _ = app.Listener(ln) }()
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	return app.Shutdown()
}

// floorRun sends the status callbacks of the throughput runs to the floor
// with the same load generator and client count, and prints its rate and
// the CPU per request.
func (b *bench) floorRun() error {
	p, err := startProc("-serve-floor")
	if err != nil {
		return err
	}
	defer p.close()
	c := newClient(p.url)
	s := sampler{postmaster: b.db.postmaster, service: p.pid()}
	// The floor stores nothing: its clients go round their requests as
	// often as they get through them.
	ki := slices.IndexFunc(kinds, func(k kind) bool { return k.file == "status-callback" })
	reqs := b.prepare(kinds[ki], space(0, ki, sideWarmService))
	loop := closedLoop{clients: b.o.clients, limit: math.MaxInt}
	send := func(client, i int) error { return c.send(reqs[client][i%len(reqs[client])]) }
	if _, err := loop.run(b.o.warmup, send); err != nil {
		return fmt.Errorf("HTTP floor, warm-up: %w", err)
	}
	c0 := s.sample()
	t, err := loop.run(b.o.duration, send)
	c1 := s.sample()
	if err != nil {
		return fmt.Errorf("HTTP floor: %w", err)
	}
	fmt.Println("HTTP floor: the same status callbacks to a Fiber app that parses the form and answers 204 (no signature, logs, metrics or database)")
	b.printSide("floor", "request", "load generator", side{ops: t.requests, perSecond: t.perSecond, mean: ms(t.mean), cpu: used(c0, c1, 0)})
	fmt.Println()
	return nil
}
