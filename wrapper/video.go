package wrapper

import (
	"time"

	"github.com/avupload/avupload/gen"
)

// Video is a video as the API describes it after an upload. Fields the API
// left out hold their zero value. It holds no pointers into the wire model
// and is safe to copy.
type Video struct {
	// VideoID identifies the video; it is always set.
	VideoID string
	// Title, Description, Language and PlayerID are the video's settings.
	Title, Description, Language, PlayerID string
	// Public, Panoramic, MP4Support and Discarded are the video's flags.
	Public, Panoramic, MP4Support, Discarded bool
	// Tags are the video's tags.
	Tags []string
	// Metadata holds the video's key and value pairs, in the API's order.
	Metadata []Metadata
	// CreatedAt, UpdatedAt and PublishedAt are zero when the API left them out.
	CreatedAt, UpdatedAt, PublishedAt time.Time
	// Assets says where to watch or embed the video.
	Assets VideoAssets
	// SourceURI is the path of the video's source.
	SourceURI string
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

// videoFrom copies the generated model into a Video.
func videoFrom(g *gen.Video) Video {
	v := Video{
		VideoID:     g.VideoID,
		Title:       orZero(g.Title),
		Description: orZero(g.Description),
		Language:    orZero(g.Language),
		PlayerID:    orZero(g.PlayerID),
		Public:      orZero(g.Public),
		Panoramic:   orZero(g.Panoramic),
		MP4Support:  orZero(g.Mp4Support),
		Discarded:   orZero(g.Discarded),
		CreatedAt:   orZero(g.CreatedAt),
		UpdatedAt:   orZero(g.UpdatedAt),
		PublishedAt: orZero(g.PublishedAt),
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

// orZero returns *p, or the zero value when p is nil.
func orZero[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
