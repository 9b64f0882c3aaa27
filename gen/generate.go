// Package gen holds the code that oapi-codegen writes from openapi.yaml: typed
// models, the raw HTTP client, the net/http strict server interface and the
// embedded description. Nothing here is edited by hand; change openapi.yaml or
// the configuration in api/, then run `make generate`.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/models.yaml ../openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/client.yaml ../openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/server.yaml ../openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config ../api/spec.yaml ../openapi.yaml
