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
package sfu
