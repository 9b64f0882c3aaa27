package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/avupload/avupload/apitime"
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

// problem is a problem document's content; its status is the answer's. It
// becomes one of the generated models (gen.BadRequest, gen.Problem, ...) when
// it is answered: the wire shape is defined there alone.
type problem struct {
	Type, Title, Name, Detail string
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

// wire is p as a problem document with status: type, title and status
// always, name and detail when they are set.
func (p problem) wire(status int) gen.Problem {
	return gen.Problem{Type: &p.Type, Title: &p.Title, Name: optional(p.Name), Status: &status, Detail: optional(p.Detail)}
}

// badRequestBody is p as the BadRequest model, with status 400.
func (p problem) badRequestBody() gen.BadRequest {
	w := p.wire(http.StatusBadRequest)
	return gen.BadRequest{Type: w.Type, Title: w.Title, Name: w.Name, Status: w.Status, Detail: w.Detail}
}

// optional returns nil for an empty string, so that the field is left out.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// The answers below write a generated model the way the generated strict
// server does (status, Content-Type, the body and a newline) but without
// escaping <, > and &: the API writes the iframe asset, the links of a page
// and the Content-Range problems' details as they are. Each one holds the
// model of one operation's answer, so the strict server still checks that
// every answer is one the contract allows.

// videoAnswer is uploadWithUploadToken's 201: the video.
type videoAnswer gen.UploadWithUploadToken201JSONResponse

// VisitUploadWithUploadTokenResponse writes the video.
func (a videoAnswer) VisitUploadWithUploadTokenResponse(w http.ResponseWriter) error {
	return writeModel(w, http.StatusCreated, a.Body)
}

// uploadRefusal is uploadWithUploadToken's 400.
type uploadRefusal gen.UploadWithUploadToken400JSONResponse

// VisitUploadWithUploadTokenResponse writes the problem.
func (a uploadRefusal) VisitUploadWithUploadTokenResponse(w http.ResponseWriter) error {
	return writeModel(w, http.StatusBadRequest, a.Body)
}

// tokenPageAnswer is listUploadTokens' 200: a page of tokens.
type tokenPageAnswer gen.ListUploadTokens200JSONResponse

// VisitListUploadTokensResponse writes the page.
func (a tokenPageAnswer) VisitListUploadTokensResponse(w http.ResponseWriter) error {
	return writeModel(w, http.StatusOK, a.Body)
}

// sandboxLimit is an answer of uploadWithUploadToken that the contract does
// not list: a limit of the sandbox itself (408 for a body that stopped
// arriving, 507 for a spent memory budget), as a problem document.
type sandboxLimit struct {
	status int
	body   gen.Problem
}

// VisitUploadWithUploadTokenResponse writes the problem.
func (a sandboxLimit) VisitUploadWithUploadTokenResponse(w http.ResponseWriter) error {
	return writeModel(w, a.status, a.body)
}

// VisitCreateUploadTokenResponse writes the problem.
func (a sandboxLimit) VisitCreateUploadTokenResponse(w http.ResponseWriter) error {
	return writeModel(w, a.status, a.body)
}

// uploadError is the answer uploadWithUploadToken gives for e: the
// contract's 400, or one of the sandbox's own limits.
func uploadError(e *apiError) gen.UploadWithUploadTokenResponseObject {
	if e.status != http.StatusBadRequest {
		return sandboxLimit{status: e.status, body: e.p.wire(e.status)}
	}
	return uploadRefusal{BadRequestJSONResponse: gen.BadRequestJSONResponse{Body: e.p.badRequestBody()}}
}

// marshal encodes v as JSON, ending with a newline, without escaping &, <
// and >.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeModel writes v as an application/json answer with status, and
// returns the error a strict handler's answer returns.
func writeModel(w http.ResponseWriter, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// writeProblem writes a problem document with the given status.
func writeProblem(w http.ResponseWriter, status int, p problem) {
	writeJSON(w, status, p.wire(status))
}

// writeTooManyRequests writes the documented 429 body.
func writeTooManyRequests(w http.ResponseWriter) {
	writeJSON(w, http.StatusTooManyRequests, tooManyRequestsBody())
}

// tooManyRequestsBody is the documented 429 body.
func tooManyRequestsBody() gen.TooManyRequests {
	typ, title, status := typeTooManyRequests, "Too many requests.", http.StatusTooManyRequests
	return gen.TooManyRequests{Type: &typ, Title: &title, Status: &status}
}

// stamp is t as the API writes timestamps: UTC, whole seconds.
func stamp(t time.Time) *apitime.Time {
	return apitime.Ptr(t.UTC().Truncate(time.Second))
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
		Type: typeServerError, Title: "Internal Server Error", Detail: "the sandbox failed to answer; its log has the error",
	})
}
