package resolve

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// containerFields are the fields of a pod spec that hold containers.
var containerFields = []string{"initContainers", "containers", "ephemeralContainers"}

// ParseKubernetes reads the image references of Kubernetes manifests:
// YAML, one or several documents (---), of any kind whose pod spec
// holds containers (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
// Job, CronJob, PodTemplate, a List of them, and custom resources that
// embed a pod template): the image of every container, init container
// and ephemeral container. JSON manifests are YAML too. Files larger
// than MaxFileBytes, with more than MaxReferences references, or that are
// not YAML are an error.
func ParseKubernetes(r io.Reader) ([]Reference, error) {
	src, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxFileBytes {
		return nil, fmt.Errorf("%w: manifest larger than %d bytes", ErrTooLarge, MaxFileBytes)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var out []Reference
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: document %d: %v", ErrMalformed, doc, err)
		}
		if err := walk(&n, object(&n), "", &out, 0); err != nil {
			return nil, err
		}
	}
}

// object names the object a document holds: "Deployment/web".
func object(n *yaml.Node) string {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	kind, name := "", ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "kind":
				kind = n.Content[i+1].Value
			case "metadata":
				if md := n.Content[i+1]; md.Kind == yaml.MappingNode {
					for j := 0; j+1 < len(md.Content); j += 2 {
						if md.Content[j].Value == "name" {
							name = md.Content[j+1].Value
						}
					}
				}
			}
		}
	}
	switch {
	case kind != "" && name != "":
		return kind + "/" + name
	case kind != "":
		return kind
	}
	return "document"
}

// maxDepth bounds the walk of a document.
const maxDepth = 64

// walk finds the container lists of every mapping under n; obj names the
// enclosing object (items of a List name their own).
func walk(n *yaml.Node, obj, path string, out *[]Reference, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			o, p := obj, path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
				if strings.HasSuffix(path, "items") && c.Kind == yaml.MappingNode {
					o, p = object(c), ""
				}
			}
			if err := walk(c, o, p, out, depth+1); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			p := strings.TrimPrefix(path+"."+key, ".")
			if isContainerField(key) && val.Kind == yaml.SequenceNode {
				for j, c := range val.Content {
					if c.Kind != yaml.MappingNode {
						continue
					}
					if err := container(c, obj, fmt.Sprintf("%s[%d]", p, j), out); err != nil {
						return err
					}
				}
				continue
			}
			if err := walk(val, obj, p, out, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func isContainerField(k string) bool {
	for _, f := range containerFields {
		if k == f {
			return true
		}
	}
	return false
}

// container reads the image of one container mapping.
func container(c *yaml.Node, obj, path string, out *[]Reference) error {
	name := ""
	var image *yaml.Node
	for i := 0; i+1 < len(c.Content); i += 2 {
		switch c.Content[i].Value {
		case "name":
			name = c.Content[i+1].Value
		case "image":
			image = c.Content[i+1]
		}
	}
	if image == nil || image.Kind != yaml.ScalarNode {
		return nil
	}
	if len(*out) >= MaxReferences {
		return fmt.Errorf("%w: more than %d references", ErrTooLarge, MaxReferences)
	}
	if name != "" {
		path = strings.TrimSuffix(path, "]")
		path = path[:strings.LastIndexByte(path, '[')] + "[" + name + "]"
	}
	ref := Reference{Raw: image.Value, Image: strings.TrimSpace(image.Value), Instruction: obj + " " + path, Line: image.Line, Column: image.Column}
	switch image.Style {
	case 0, yaml.FlowStyle:
		ref.rewritable = true
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		ref.Column++ // past the quote; rewritable if the value needs no escape
		ref.rewritable = !strings.ContainsAny(image.Value, `\"'`)
	}
	if ref.Image == "" {
		ref.Err = "empty image"
	}
	*out = append(*out, ref)
	return nil
}
