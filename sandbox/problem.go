package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/avupload/avupload/gen"
)

const typeBase = "https://docs.api.video/reference/"

// Problem type URIs.
const (
	typeInvalidAttribute   = typeBase + "invalid-attribute"
	typeInvalidFile        = typeBase + "invalid-file"
	typeInvalidRange       = typeBase + "invalid-content-range"
	typeNotFound           = typeBase + "resource-not-found"
	typeTooManyRequests    = typeBase + "too-many-requests"
	typeMissingAuthHeader  = typeBase + "authentication-missing-authorization-header"
	typeInvalidAuthHeader  = typeBase + "authentication-invalid-authorization-header"
	typeInvalidAPIKey      = typeBase + "authentication-invalid-api-key"
	typeMissingUploadToken = typeBase + "authentication-missing-upload-token"
	typeInvalidUploadToken = typeBase + "authentication-invalid-upload-token"
	typeSuspended          = typeBase + "authentication-suspended-account"
	typeServerError        = typeBase + "server-error"
)

// problem is a problem document; status is filled in when it is written.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Name   string `json:"name,omitempty"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// badRequest builds a 400 problem.
func badRequest(typ, title, name, detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, p: problem{Type: typ, Title: title, Name: name, Detail: detail}}
}

// apiError is a problem with its status, returned by the request logic.
type apiError struct {
	status int
	p      problem
}

func (e *apiError) Error() string { return e.p.Title + " " + e.p.Detail }

// response is any JSON response; it implements every generated Visit*Response
// interface so the strict handlers can return it. The generated response
// types cannot be used for bodies with timestamps: encoding/json writes UTC as
// "Z", while the API writes the ATOM form with a numeric offset.
type response struct {
	status int
	body   any // nil: no body
}

func (r response) visit(w http.ResponseWriter) error {
	if r.body == nil {
		w.WriteHeader(r.status)
		return nil
	}
	b, err := marshal(r.body)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	_, err = w.Write(b)
	return err
}

func (r response) VisitUploadWithUploadTokenResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r response) VisitListUploadTokensResponse(w http.ResponseWriter) error      { return r.visit(w) }
func (r response) VisitCreateUploadTokenResponse(w http.ResponseWriter) error     { return r.visit(w) }
func (r response) VisitDeleteUploadTokenResponse(w http.ResponseWriter) error     { return r.visit(w) }
func (r response) VisitGetUploadTokenResponse(w http.ResponseWriter) error        { return r.visit(w) }
func (r response) VisitAuthenticateResponse(w http.ResponseWriter) error          { return r.visit(w) }
func (r response) VisitRefreshTokenResponse(w http.ResponseWriter) error          { return r.visit(w) }

var (
	_ gen.UploadWithUploadTokenResponseObject = response{}
	_ gen.ListUploadTokensResponseObject      = response{}
	_ gen.CreateUploadTokenResponseObject     = response{}
	_ gen.DeleteUploadTokenResponseObject     = response{}
	_ gen.GetUploadTokenResponseObject        = response{}
	_ gen.AuthenticateResponseObject          = response{}
	_ gen.RefreshTokenResponseObject          = response{}
)

// marshal encodes v as JSON without escaping &, < and >, as the API writes
// links and iframes.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// errorResponse turns an apiError into a response.
func errorResponse(e *apiError) response {
	p := e.p
	p.Status = e.status
	return response{status: e.status, body: p}
}

// writeProblem writes a problem document with the given status.
func writeProblem(w http.ResponseWriter, status int, p problem) {
	p.Status = status
	writeJSON(w, status, p)
}

// writeTooManyRequests writes the documented 429 body.
func writeTooManyRequests(w http.ResponseWriter) {
	writeJSON(w, http.StatusTooManyRequests, tooManyRequestsBody())
}

func tooManyRequestsBody() any {
	return struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
	}{typeTooManyRequests, "Too many requests.", http.StatusTooManyRequests}
}

// atom formats t the way the API does: 2020-12-02T10:13:19+00:00.
func atom(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05-07:00")
}

// paramError answers the generated router's parameter errors (missing or
// malformed query and header parameters) with problem documents.
func (s *Sandbox) paramError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		required *gen.RequiredParamError
		invalid  *gen.InvalidParamFormatError
		tooMany  *gen.TooManyValuesForParamError
		name     string
	)
	switch {
	case errors.As(err, &required):
		name = required.ParamName
	case errors.As(err, &invalid):
		name = invalid.ParamName
	case errors.As(err, &tooMany):
		name = tooMany.ParamName
	}
	switch {
	case name == "token" && (invalid != nil || tooMany != nil):
		// A string cannot be malformed: the token was given more than once.
		writeProblem(w, http.StatusUnauthorized, problem{
			Type: typeInvalidUploadToken, Title: "The upload token is invalid or expired.", Name: "token",
			Detail: "the token parameter must be given once",
		})
	case name == "token":
		writeProblem(w, http.StatusUnauthorized, problem{
			Type: typeMissingUploadToken, Title: "The upload token is missing.", Name: "token",
		})
	case name == "Content-Range":
		writeProblem(w, http.StatusBadRequest, rangeMalformed(err.Error()).p)
	case name == "currentPage", name == "pageSize":
		writeProblem(w, http.StatusBadRequest, invalidListParam(name).p)
	default:
		writeProblem(w, http.StatusBadRequest, problem{
			Type: typeInvalidAttribute, Title: "A request parameter is invalid.", Name: name, Detail: err.Error(),
		})
	}
}

// requestError answers bodies the generated code cannot decode.
func (s *Sandbox) requestError(w http.ResponseWriter, r *http.Request, err error) {
	if r.URL.Path == "/upload" {
		writeProblem(w, http.StatusBadRequest, problem{
			Type: typeInvalidFile, Title: "There is no uploaded file in the request.", Name: "file",
			Detail: "the request body must be multipart/form-data holding one file part: " + err.Error(),
		})
		return
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field == "ttl" {
		writeProblem(w, http.StatusBadRequest, ttlProblem(fmt.Sprintf("ttl must be an integer, got a JSON %s", typeErr.Value)).p)
		return
	}
	detail := err.Error()
	if strings.HasSuffix(detail, "EOF") {
		example := `{"ttl":3600}`
		switch r.URL.Path {
		case "/auth/api-key":
			example = `{"apiKey":"YOUR_API_KEY"}`
		case "/auth/refresh":
			example = `{"refreshToken":"REFRESH_TOKEN"}`
		}
		detail = "the request body must be a JSON object such as " + example + ": " + detail
	}
	writeProblem(w, http.StatusBadRequest, problem{
		Type: typeInvalidAttribute, Title: "The request body is invalid.", Name: "body", Detail: detail,
	})
}

// responseError answers a failure to produce a response.
func (s *Sandbox) responseError(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.logger.Error("sandbox response error", "path", redactPath(r.URL.Path), "err", err)
	writeProblem(w, http.StatusInternalServerError, problem{
		Type: typeServerError, Title: "Internal Server Error", Detail: err.Error(),
	})
}
