package reducer

import "encoding/json"

// Codec encodes reducer state for snapshots. Unmarshal receives a pointer to
// a value made by the reducer's init function and fills it in.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default snapshot Codec, encoding/json.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

// Marshal encodes v with json.Marshal.
func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data with json.Unmarshal.
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
