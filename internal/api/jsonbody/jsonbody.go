// Package jsonbody reads a request's JSON body strictly: the declared
// media type (application/json, UTF-8 only), a size limit checked before
// and while reading, one JSON object with no unknown field and nothing
// after it, and a message for each failure that says what to change and
// where. Its errors are of three kinds, which the caller maps to 400, 413
// and 415. It knows nothing of what the body means.
package jsonbody

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// The kinds of a body's failure. Each carries the message the client
// sees, so it must say what to change.
type (
	Invalid   string // malformed, or fails validation: 400
	TooLarge  string // over its size limit: 413
	MediaType string // not declared as UTF-8 JSON: 415
)

func (e Invalid) Error() string   { return string(e) }
func (e TooLarge) Error() string  { return string(e) }
func (e MediaType) Error() string { return string(e) }

// closeGently makes net/http half-close the connection and linger before
// it closes it, for a request whose body will not be read. Without it, a
// request sent with "Connection: close" gets its socket closed at once with
// the unread body in the kernel's buffer: the kernel then sends a reset,
// which can reach the client (still sending) before it has read the 413.
// Reading one byte through a MaxBytesReader of limit 0 is the one public way
// to tell the server the body was too large. A client that sent "Expect:
// 100-continue" has not sent its body yet, and reading would invite it to.
func closeGently(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Expect") != "" {
		return
	}
	var b [1]byte
	_, _ = http.MaxBytesReader(innermost(w), r.Body, 0).Read(b[:])
}

// innermost returns the ResponseWriter net/http created, under any
// wrappers: MaxBytesReader only tells the server the limit was hit when it
// is given that one.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// Decode checks the headers, reads at most limit bytes of the body and
// decodes it strictly into into (a pointer to a pointer, which stays nil
// for a literal null). fields names the fields for an unknown field's
// message.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, into any, fields string) error {
	return decode(w, r, limit, into, fields, true)
}

// DecodeLoose is Decode that ignores unknown fields, for the APIs of other
// code runners whose clients send fields of their own.
func DecodeLoose(w http.ResponseWriter, r *http.Request, limit int64, into any) error {
	return decode(w, r, limit, into, "", false)
}

func decode(w http.ResponseWriter, r *http.Request, limit int64, into any, fields string, strict bool) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	// Refuse a declared oversize body before reading any of it, so a client
	// cannot make us spend bandwidth on a request we will reject anyway.
	if r.ContentLength > limit {
		closeGently(w, r)
		return TooLarge(fmt.Sprintf("request body is %d bytes; the limit is %s",
			r.ContentLength, FormatBytes(limit)))
	}

	// MaxBytesReader covers what Content-Length cannot: chunked bodies have
	// none. bodyReader remembers a read failure so it is not mistaken for
	// malformed JSON.
	body := &bodyReader{r: http.MaxBytesReader(innermost(w), r.Body, limit)}
	dec := json.NewDecoder(body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(into); err != nil {
		return decodeError(err, body.err, fields)
	}
	return checkTrailing(dec, body)
}

// Unmarshal decodes b strictly into into, as Decode does a body: one
// object, no unknown field, the same messages. It is for a request body
// kept for later, such as an asynchronous submission's.
func Unmarshal(b []byte, into any, fields string) error {
	body := &bodyReader{r: bytes.NewReader(b)}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return decodeError(err, body.err, fields)
	}
	return checkTrailing(dec, body)
}

// checkContentType accepts application/json with no charset or charset=utf-8:
// JSON is UTF-8 (RFC 8259), and decoding another charset as UTF-8 would
// silently change the program.
func checkContentType(v string) error {
	if v == "" {
		return MediaType("Content-Type must be application/json; the request has none")
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return MediaType("Content-Type cannot be parsed; it must be application/json")
	}
	if mt != "application/json" {
		return MediaType(fmt.Sprintf("Content-Type must be application/json, got %s", mt))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return MediaType(fmt.Sprintf("JSON must be UTF-8, got charset=%s", cs))
	}
	return nil
}

// bodyReader records the first error of the underlying reader other than EOF.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// decodeError turns a failed Decode into a message that says what is wrong
// and where. readErr is the body's own failure, if any, which takes precedence
// over what the decoder made of it.
func decodeError(err, readErr error, fields string) error {
	if readErr != nil {
		return bodyReadError(readErr)
	}
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return Invalid(`request body is empty; send a JSON object such as {"language":"python","code":"print(1)"}`)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid("malformed JSON: the body ends before the JSON object is complete")
	case errors.As(err, &syntax):
		return Invalid(fmt.Sprintf("malformed JSON at byte offset %d: %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &typ) && typ.Field == "":
		return Invalid(fmt.Sprintf("request body must be a JSON object, got %s", typ.Value))
	case errors.As(err, &typ):
		return Invalid(fmt.Sprintf("%q must be %s, got %s", typ.Field, typeName(typ.Type), typ.Value))
	}
	// encoding/json has no error type for unknown fields, only this text.
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return Invalid(fmt.Sprintf(`unknown field %s; the fields are %s`, field, fields))
	}
	return Invalid("malformed JSON: " + strings.TrimPrefix(err.Error(), "json: "))
}

// bodyReadError reports a body that could not be read to the end.
func bodyReadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return TooLarge(fmt.Sprintf("request body is larger than the limit of %s", FormatBytes(tooBig.Limit)))
	}
	return Invalid("the request body could not be read to the end")
}

// typeName names a Go type the way a JSON client thinks of it.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Int, reflect.Int64:
		return "an integer"
	default:
		return t.String()
	}
}

// checkTrailing refuses anything but whitespace after the object: a second
// object or stray bytes mean the client sent something other than it thinks.
// It reads the rest through the size limit, so trailing junk still counts.
func checkTrailing(dec *json.Decoder, body *bodyReader) error {
	rest := bufio.NewReader(io.MultiReader(dec.Buffered(), body))
	offset := dec.InputOffset()
	for {
		c, err := rest.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bodyReadError(err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			offset++
		default:
			return Invalid(fmt.Sprintf("unexpected data after the JSON object at byte offset %d; send exactly one object", offset))
		}
	}
}

// FormatBytes names a byte count exactly, with its KiB or MiB value when it
// is a whole number of them: "1048576 bytes (1 MiB)".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d bytes (%d MiB)", n, n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d bytes (%d KiB)", n, n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
