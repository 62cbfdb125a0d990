// Package gosdk holds the test that drives the published Rocket.Chat Go SDK
// (github.com/RocketChat/Rocket.Chat.Go.SDK, package rest), unchanged, against rocketlite's
// API v1 served in-process on a real bbolt file. It has no code of its own.
package gosdk
