package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avupload/avupload/wrapper"
)

// atomLayout is the API's timestamp form: 2020-12-02T10:13:19+00:00.
const atomLayout = "2006-01-02T15:04:05-07:00"

// atomTime is a time that marshals in the API's ATOM form.
type atomTime time.Time

func (t atomTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).Format(atomLayout))
}

// atomPtr returns nil for a zero time, so that omitempty leaves it out.
func atomPtr(t time.Time) *atomTime {
	if t.IsZero() {
		return nil
	}
	a := atomTime(t)
	return &a
}

// tokenJSON is an upload token with the API's field names.
type tokenJSON struct {
	Token     string    `json:"token"`
	TTL       int64     `json:"ttl"`
	CreatedAt *atomTime `json:"createdAt,omitempty"`
	ExpiresAt *atomTime `json:"expiresAt,omitempty"`
}

func newTokenJSON(t wrapper.UploadToken) tokenJSON {
	return tokenJSON{
		Token:     t.Token,
		TTL:       int64(t.TTL / time.Second),
		CreatedAt: atomPtr(t.CreatedAt),
		ExpiresAt: atomPtr(t.ExpiresAt),
	}
}

// linkJSON is a pagination link with the API's field names.
type linkJSON struct {
	Rel string `json:"rel"`
	URI string `json:"uri"`
}

// paginationJSON is a list's pagination with the API's field names.
type paginationJSON struct {
	CurrentPage      int        `json:"currentPage"`
	CurrentPageItems int        `json:"currentPageItems"`
	PageSize         int        `json:"pageSize"`
	PagesTotal       int        `json:"pagesTotal"`
	ItemsTotal       int        `json:"itemsTotal"`
	Links            []linkJSON `json:"links"`
}

// tokenListJSON is a token list with the API's field names. Pagination is
// absent when the list holds every page (--all).
type tokenListJSON struct {
	Data       []tokenJSON     `json:"data"`
	Pagination *paginationJSON `json:"pagination,omitempty"`
}

func newPaginationJSON(p wrapper.Pagination) *paginationJSON {
	out := &paginationJSON{
		CurrentPage: p.Page, CurrentPageItems: p.PageItems, PageSize: p.PageSize,
		PagesTotal: p.PagesTotal, ItemsTotal: p.ItemsTotal, Links: []linkJSON{},
	}
	for _, l := range []linkJSON{
		{"self", p.Links.Self}, {"first", p.Links.First}, {"previous", p.Links.Previous},
		{"next", p.Links.Next}, {"last", p.Links.Last},
	} {
		if l.URI != "" {
			out.Links = append(out.Links, l)
		}
	}
	return out
}

// videoJSON is a video with the API's field names.
type videoJSON struct {
	VideoID     string         `json:"videoId"`
	Title       string         `json:"title,omitempty"`
	Description string         `json:"description,omitempty"`
	Language    string         `json:"language,omitempty"`
	PlayerID    string         `json:"playerId,omitempty"`
	Public      bool           `json:"public"`
	Panoramic   bool           `json:"panoramic"`
	MP4Support  bool           `json:"mp4Support"`
	Discarded   bool           `json:"discarded"`
	Tags        []string       `json:"tags"`
	Metadata    []metadataJSON `json:"metadata"`
	CreatedAt   *atomTime      `json:"createdAt,omitempty"`
	UpdatedAt   *atomTime      `json:"updatedAt,omitempty"`
	PublishedAt *atomTime      `json:"publishedAt,omitempty"`
	Source      *sourceJSON    `json:"source,omitempty"`
	Assets      *assetsJSON    `json:"assets,omitempty"`
}

type metadataJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type sourceJSON struct {
	URI string `json:"uri"`
}

type assetsJSON struct {
	HLS       string `json:"hls,omitempty"`
	Iframe    string `json:"iframe,omitempty"`
	Player    string `json:"player,omitempty"`
	Thumbnail string `json:"thumbnail,omitempty"`
	MP4       string `json:"mp4,omitempty"`
}

func newVideoJSON(v wrapper.Video) videoJSON {
	out := videoJSON{
		VideoID: v.VideoID, Title: v.Title, Description: v.Description, Language: v.Language,
		PlayerID: v.PlayerID, Public: v.Public, Panoramic: v.Panoramic, MP4Support: v.MP4Support,
		Discarded: v.Discarded, Tags: v.Tags, Metadata: []metadataJSON{},
		CreatedAt: atomPtr(v.CreatedAt), UpdatedAt: atomPtr(v.UpdatedAt), PublishedAt: atomPtr(v.PublishedAt),
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	for _, m := range v.Metadata {
		out.Metadata = append(out.Metadata, metadataJSON(m))
	}
	if v.SourceURI != "" {
		out.Source = &sourceJSON{URI: v.SourceURI}
	}
	if a := v.Assets; a != (wrapper.VideoAssets{}) {
		out.Assets = &assetsJSON{HLS: a.HLS, Iframe: a.Iframe, Player: a.Player, Thumbnail: a.Thumbnail, MP4: a.MP4}
	}
	return out
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSON(b.Bytes()))
	return err
}

// writeTokenTable writes tokens as an aligned table with a header.
func writeTokenTable(w io.Writer, tokens []wrapper.UploadToken) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tTTL\tCREATED\tEXPIRES")
	for _, t := range tokens {
		created, expires := "-", "never"
		if !t.CreatedAt.IsZero() {
			created = t.CreatedAt.Format(atomLayout)
		}
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.Format(atomLayout)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", escapeText(t.Token), formatTTL(t.TTL), created, expires)
	}
	return tw.Flush()
}

// formatTTL renders a token lifetime briefly: "1h", "1h30m", "45s", or
// "none" for a token that never expires.
func formatTTL(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
