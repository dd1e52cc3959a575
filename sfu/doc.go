// Package sfu owns the media plane: rooms, participants, published tracks
// (UpTrack) and subscribed tracks (DownTrack), the who-hears-whom policy, RTP
// forwarding and RTCP (keyframe requests upstream, NACK, reports).
//
// It does not own signaling: a Participant is driven by method calls
// (HandleOffer, HandleAnswer, AddCandidate) and talks back through the
// Signaler it was given. It does not know about names, chat or presence.
//
// Each participant has two PeerConnections: a publish connection, where the
// client offers and the server answers, and a subscribe connection, where
// the server offers whenever the set of tracks it forwards changes. Offers
// therefore always flow in one direction per connection, so there is no glare.
//
// Lock order: Room.mu before Participant.mu. Methods marked "called locked"
// expect Participant.mu to be held.
//
// A published video may come as up to three simulcast layers, one
// resolution each (see UpTrack, layer); each subscriber receives one layer
// at a time as one stream, switched at keyframes (see follower), and the
// sinks the highest.
//
// Every goroutine has an owner that waits for it. A participant's (its up
// tracks' loops and RTCP readers, one each per layer, the subscribers'
// RTCP readers, the sender reports, the closing of a failed connection
// and the resubscription that follows, a layer's deferred keyframe
// request) are waited for by Leave, so that once
// Room.Close returns nothing of the room runs. The shared socket's writer
// is the Engine's, waited for by Close. Nothing waits for a goroutine
// while holding a lock that goroutine takes.
package sfu
