// Package spec embeds openapi.yaml, as oapi-codegen writes it, for tests,
// validators and tools. It is apart from package gen so that programs
// importing gen or wrapper do not link the OpenAPI loader, the YAML parsers
// and the schema validator it needs. Nothing here is edited by hand; change
// openapi.yaml or api/spec.yaml, then run `make generate`.
package spec

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../../api/spec.yaml ../../openapi.yaml
