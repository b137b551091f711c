// Command goyaml decodes YAML the way Kubernetes, Argo CD and Helm do
// (sigs.k8s.io/yaml over go.yaml.in/yaml/v2) and prints the JSON they see.
// homeport's tests run it as the oracle for what its YAML writer produces.
//
// Protocol (one long-lived process, many requests): each request on stdin is a
// line holding a decimal byte count followed by that many bytes of a YAML stream.
// For each request one line goes to stdout: {"docs":[...]} with every non-empty
// document as JSON, or {"error":"..."}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// splitDocuments splits a stream on "---" lines the way apimachinery's
// YAMLReader does: a line starting with "---" followed only by spaces or a comment.
func splitDocuments(stream []byte) ([][]byte, error) {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(stream, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("---")) {
			rest := strings.TrimSpace(string(line[3:]))
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, fmt.Errorf("invalid document separator: %q", strings.TrimSpace(string(line)))
			}
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes()), nil
}

func decode(stream []byte) (map[string]any, error) {
	parts, err := splitDocuments(stream)
	if err != nil {
		return nil, err
	}
	docs := []json.RawMessage{}
	for i, part := range parts {
		j, err := yaml.YAMLToJSON(part)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if string(j) == "null" {
			continue // an empty document, as Kubernetes readers skip it
		}
		docs = append(docs, j)
	}
	return map[string]any{"docs": docs}, nil
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		header, err := in.ReadString('\n')
		if err == io.EOF && header == "" {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goyaml: reading request:", err)
			os.Exit(2)
		}
		n, err := strconv.Atoi(strings.TrimSpace(header))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "goyaml: bad length line %q\n", header)
			os.Exit(2)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(in, body); err != nil {
			fmt.Fprintln(os.Stderr, "goyaml: reading request body:", err)
			os.Exit(2)
		}
		res, err := decode(body)
		if err != nil {
			res = map[string]any{"error": err.Error()}
		}
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "goyaml: writing response:", err)
			os.Exit(2)
		}
		if err := out.Flush(); err != nil {
			os.Exit(2)
		}
	}
}
