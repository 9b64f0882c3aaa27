// Package e2e holds the whole-stack tests of the Temporal module: a real
// Temporal server started inside the test process (temporaltest), real
// workers and the sandbox. They run without the race detector, which
// would instrument the whole server (make test-temporal runs the module's
// own package with it).
package e2e
