// Package wrapper is the avupload client library for api.video's delegated
// uploads: a backend holding the API key mints upload tokens, and anyone
// holding a token uploads videos of any size with it.
package wrapper
