// Package realtime serves Rocket.Chat's realtime API (Meteor DDP, REALTIME.md) over websocket
// and SockJS's websocket transport: sessions, methods, subscriptions, presence, and the hub
// that fans committed changes out to the subscribers.
//
// Where events come from: the store records an event inside every write transaction that
// others should hear of (store/events.go) and hands them to its Publisher after the commit
// returned, in commit order. The Hub is that Publisher. It never reads the request that caused
// a change, only the committed events, so a second node (or a PostgreSQL backend) can feed the
// same Hub with the same stream.
//
// Adding a realtime event for a new write:
//
//  1. in the store's transaction function, one line: emit(tx, Event{Kind: …, Room: r, …})
//     (add an EventKind in store/events.go if none fits);
//  2. in hub.go's dispatch, map that kind to the DDP streams it feeds (streams.go lists them).
//
// methods.go and streams.go are the tables of contents of the DDP API, as handlers/routes.go
// is for REST.
package realtime
