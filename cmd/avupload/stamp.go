package main

// releaseVersion and releaseCommit are the version and the commit that
// `make release` stamps into the binaries it builds, with the linker's
// -X main.releaseVersion=... -X main.releaseCommit=...; empty unless
// stamped. The commit is a full hash, with "-dirty" after it when the tree
// had changes. buildInfoOf prefers them to what the build recorded, which a
// build outside a git checkout (a container, a source archive) or with
// -buildvcs=false lacks.
var releaseVersion, releaseCommit string
