// Package recorded holds the API's answers that api-facts.md records (as the
// official clients' tests hold them), byte for byte, for the tests that send
// them through every path an answer takes: the generated models, the
// sandbox's answers, the wrapper's results and the CLI's --json. Only tests
// import it.
package recorded

// The recorded answers.
const (
	// CreateToken is createUploadToken's 200 for a token with a ttl.
	CreateToken = `{"token":"to1tcmSFHeYY5KzyhOqVKMKb","ttl":3600,"createdAt":"2020-12-02T10:13:19+00:00","expiresAt":"2020-12-02T11:13:19+00:00"}`
	// TokenWithoutTTL is getUploadToken's 200 for a token that never expires.
	TokenWithoutTTL = `{"token":"to1tcmSFHeYY5KzyhOqVKMKb","ttl":0,"createdAt":"2020-12-02T10:13:19+00:00"}`
	// TooManyRequests is any operation's 429.
	TooManyRequests = `{"type":"https://docs.api.video/reference/too-many-requests","title":"Too many requests.","status":429}`
	// NotFound is the published 404 example, from a video route.
	NotFound = `{"type":"https://docs.api.video/reference/resource-not-found","title":"The requested resource was not found.","name":"videoId","status":404}`
	// TokenList is listUploadTokens' 200 for two tokens.
	TokenList = `{"data":[{"token":"to37YfoPDRR2pcDKa6LsUE0M","ttl":3600,"createdAt":"2020-12-02T10:26:46+00:00","expiresAt":"2020-12-02T11:26:46+00:00"},{"token":"to1W3ZS9PdUBZWzzTEZr1B79","ttl":0,"createdAt":"2020-12-02T10:26:28+00:00"}],"pagination":{"currentPage":1,"currentPageItems":2,"pageSize":25,"pagesTotal":1,"itemsTotal":2,"links":[{"rel":"self","uri":"/upload-tokens?currentPage=1&pageSize=25"},{"rel":"first","uri":"/upload-tokens?currentPage=1&pageSize=25"},{"rel":"last","uri":"/upload-tokens?currentPage=1&pageSize=25"}]}}`
	// Video is uploadWithUploadToken's 201 for a complete video.
	Video = `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz","playerId":"pl45KFKdlddgk654dspkze","title":"Maths video","description":"An amazing video explaining the string theory","language":"en","languageOrigin":"api","public":false,"panoramic":false,"tags":["maths","string theory","video"],"metadata":[{"key":"Author","value":"John Doe"},{"key":"Format","value":"Tutorial"}],"publishedAt":"2024-07-14T23:36:07+00:00","discarded":false,"discardedAt":null,"deletesAt":null,"source":{"uri":"/videos/vi4k0jvEUuaTdRAEjQ4Jfrgz/source"},"assets":{"iframe":"<iframe src=\"https://embed.api.video/vod/vi4blUQJFrYWbaG44NChkH27\" width=\"100%\" height=\"100%\" frameborder=\"0\" scrolling=\"no\" allowfullscreen=\"\"></iframe>","player":"https://embed.api.video/vod/vi4blUQJFrYWbaG44NChkH27","hls":"https://cdn.api.video/vod/vi4blUQJFrYWbaG44NChkH27/hls/manifest.m3u8","thumbnail":"https://cdn.api.video/vod/vi4blUQJFrYWbaG44NChkH27/thumbnail.jpg","mp4":"https://cdn.api.video/vod/vi4blUQJFrYWbaG44NChkH27/mp4/source.mp4"}}`
)

// Answer is one recorded answer and the operation that gave it.
type Answer struct {
	// Name says what the answer is, for test names.
	Name string
	// Op is the operation's operationId, as in openapi.yaml.
	Op string
	// Status is the answer's HTTP status.
	Status int
	// Body is the answer's body, as the API wrote it.
	Body string
}

// Answers are every recorded answer.
var Answers = []Answer{
	{Name: "create token", Op: "createUploadToken", Status: 200, Body: CreateToken},
	{Name: "token without ttl", Op: "getUploadToken", Status: 200, Body: TokenWithoutTTL},
	{Name: "too many requests", Op: "listUploadTokens", Status: 429, Body: TooManyRequests},
	{Name: "not found", Op: "getUploadToken", Status: 404, Body: NotFound},
	{Name: "token list", Op: "listUploadTokens", Status: 200, Body: TokenList},
	{Name: "uploaded video", Op: "uploadWithUploadToken", Status: 201, Body: Video},
}
