package wrapper

import (
	"encoding/json"
	"time"

	"github.com/avupload/avupload/apitime"
	"github.com/avupload/avupload/gen"
	"github.com/oapi-codegen/nullable"
)

// Video is a video as the API describes it after an upload. Fields the API
// left out (or sent as null) hold their zero value; RawJSON gives the answer
// itself, every field as the API wrote it. It holds no pointers into the wire
// model and is safe to copy.
type Video struct {
	// VideoID identifies the video; it is always set.
	VideoID string
	// Title, Description, Language and PlayerID are the video's settings.
	Title, Description, Language, PlayerID string
	// LanguageOrigin says whether Language was set through the API ("api")
	// or detected ("auto"); empty when the API did not say.
	LanguageOrigin string
	// Public, Panoramic, MP4Support and Discarded are the video's flags.
	Public, Panoramic, MP4Support, Discarded bool
	// Tags are the video's tags.
	Tags []string
	// Metadata holds the video's key and value pairs, in the API's order.
	Metadata []Metadata
	// CreatedAt, UpdatedAt and PublishedAt are zero when the API left them out.
	CreatedAt, UpdatedAt, PublishedAt time.Time
	// DiscardedAt is when the video was discarded, and DeletesAt when it
	// will be deleted for good; zero when it was not (the API's null).
	DiscardedAt, DeletesAt time.Time
	// Assets says where to watch or embed the video.
	Assets VideoAssets
	// SourceURI is the path of the video's source.
	SourceURI string

	raw string // the answer's body, as received
}

// RawJSON returns the answer that described the video, byte for byte as the
// API sent it, fields this type does not hold included. It is nil when no
// answer described the video (every chunk was sent by an earlier run). The
// result is a copy: changing it changes nothing else.
func (v Video) RawJSON() json.RawMessage { return rawJSON(v.raw) }

// rawJSON returns a fresh copy of raw, or nil when it is empty.
func rawJSON(raw string) json.RawMessage {
	if raw == "" {
		return nil
	}
	return json.RawMessage(raw)
}

// Metadata is one key and value pair attached to a video.
type Metadata struct {
	Key, Value string
}

// VideoAssets says where to watch or embed a video. Iframe is an HTML
// snippet; the others are URLs.
type VideoAssets struct {
	HLS, Iframe, Player, Thumbnail, MP4 string
}

// videoAnswer is an upload's answer: the video it describes and its body as
// received.
type videoAnswer struct {
	gen.Video
	raw []byte
}

// videoFrom copies the generated model into a Video; raw is the answer it
// was decoded from.
func videoFrom(g *gen.Video, raw []byte) Video {
	v := Video{
		raw:         string(raw),
		VideoID:     g.VideoID,
		Title:       orZero(g.Title),
		Description: orZero(g.Description),
		Language:    orZero(g.Language),
		PlayerID:    orZero(g.PlayerID),
		Public:      orZero(g.Public),
		Panoramic:   orZero(g.Panoramic),
		MP4Support:  orZero(g.Mp4Support),
		Discarded:   orZero(g.Discarded),
		CreatedAt:   orZero(g.CreatedAt).Time,
		UpdatedAt:   orZero(g.UpdatedAt).Time,
		PublishedAt: orZero(g.PublishedAt).Time,
		DiscardedAt: nullableTime(g.DiscardedAt),
		DeletesAt:   nullableTime(g.DeletesAt),
	}
	if g.LanguageOrigin.IsSpecified() && !g.LanguageOrigin.IsNull() {
		v.LanguageOrigin = string(g.LanguageOrigin.MustGet())
	}
	if g.Tags != nil {
		v.Tags = append([]string(nil), (*g.Tags)...)
	}
	if g.Metadata != nil {
		v.Metadata = make([]Metadata, 0, len(*g.Metadata))
		for _, m := range *g.Metadata {
			v.Metadata = append(v.Metadata, Metadata{Key: orZero(m.Key), Value: orZero(m.Value)})
		}
	}
	if a := g.Assets; a != nil {
		v.Assets = VideoAssets{HLS: orZero(a.Hls), Iframe: orZero(a.Iframe), Player: orZero(a.Player),
			Thumbnail: orZero(a.Thumbnail), MP4: orZero(a.Mp4)}
	}
	if g.Source != nil {
		v.SourceURI = orZero(g.Source.URI)
	}
	return v
}

// nullableTime returns the time n holds, or the zero time when n is absent
// or null.
func nullableTime(n nullable.Nullable[apitime.Time]) time.Time {
	if !n.IsSpecified() || n.IsNull() {
		return time.Time{}
	}
	return n.MustGet().Time
}

// orZero returns *p, or the zero value when p is nil.
func orZero[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
