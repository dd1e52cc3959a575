// Package access decides who may join a room: password hashes (bcrypt or
// argon2id) compared in constant time, signed join tokens (HS256 JWTs
// carrying room, name, role and expiry), and a per-IP limit on failed
// attempts. It also finds a request's client address behind trusted
// reverse proxies.
package access
