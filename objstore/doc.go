// Package objstore is a client of one bucket of an S3-compatible object
// store (AWS S3, MinIO, Garage, Ceph RGW, versitygw...), over minio-go. It
// is where a cluster's clip media will live, so that every node can list
// and serve a room's clips; it knows nothing of clips or rooms itself.
//
// # Keys
//
// Every key names an object relative to Config.Prefix: segments joined by
// '/', each made of the characters of room names and clip ids (ASCII
// letters, digits, '-', '_') and '.', none empty and none beginning with
// '.', at most MaxKeyLen bytes in all. A key is checked before any request
// is made: "..", "a//b", "/a", "a b" and the like are refused with
// ErrBadKey.
//
// # Calls
//
// Every call takes a context and is bounded besides by Config.Timeout
// (an upload by Timeout plus the time its size takes at Config.MinRate).
// Every error is an *Error naming the operation and the key, wrapping
// ErrNotExist, ErrDenied, ErrBadKey, ErrUnreachable or the server's answer.
// A failed multipart upload is aborted, so that it leaves nothing listed.
//
// Open returns an *Object, an io.ReadSeeker of a known size and time that
// reads with ranged GETs only as far as it is read, so http.ServeContent
// answers a Range request with one ranged GET to the store.
//
// # Trust
//
// The store is not trusted: a listing entry whose key is outside the
// prefix asked for, is not a valid key, repeats, or has an impossible size
// is left out of List's result and reported in Listing.Skipped; a body
// longer than the object's size is cut, a shorter one is an error.
//
// A Client holds no goroutine of its own; it is safe for concurrent use.
package objstore
