// Package gen holds the code that oapi-codegen writes from openapi.yaml: typed
// models, the raw HTTP client and the net/http strict server interface. The
// embedded description is in gen/spec, apart, so that programs importing gen
// do not link what only tests and validators need. Nothing here is edited by
// hand; change openapi.yaml or the configuration in api/, then run
// `make generate`.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/models.yaml ../openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/client.yaml ../openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/server.yaml ../openapi.yaml
