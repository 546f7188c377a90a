package resolve

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Caps of the parsers.
const (
	// MaxFileBytes caps a Dockerfile or a Kubernetes manifest file read by
	// the parsers: 4 MiB.
	MaxFileBytes = 4 << 20
	// MaxReferences caps the references read from one file: 10,000.
	MaxReferences = 10000
)

// DockerfileOptions configure ParseDockerfile. The zero value reads the
// ARG defaults only.
type DockerfileOptions struct {
	// BuildArgs are the build arguments (docker build --build-arg): they
	// override the defaults of the ARGs the Dockerfile declares before its
	// first FROM, and give the platform ARGs (TARGETPLATFORM,
	// BUILDPLATFORM, TARGETOS, TARGETARCH, ...), which FROM may use
	// without declaring them. Nil means none.
	BuildArgs map[string]string
}

// platformArgs are the ARGs BuildKit defines in the global scope.
var platformArgs = map[string]bool{
	"TARGETPLATFORM": true, "TARGETOS": true, "TARGETARCH": true, "TARGETVARIANT": true,
	"BUILDPLATFORM": true, "BUILDOS": true, "BUILDARCH": true, "BUILDVARIANT": true,
}

// pos is the place of a byte of a logical line in the file.
type pos struct{ line, col int }

// logical is one instruction: its text (continuations joined, comment
// lines dropped) and where each of its bytes is in the file.
type logical struct {
	text string
	at   []pos
}

var directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$`)

var heredocRE = regexp.MustCompile(`<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)`)

// ParseDockerfile reads the external image references of a Dockerfile:
// the image of every FROM (with ARG substitution: "${BASE:-debian}:12"),
// and the images of COPY --from and RUN --mount=...,from=..., leaving out
// the names and indexes of the file's own stages and scratch. It reads
// the escape parser directive, line continuations, comment lines and
// heredocs (whose bodies are not instructions). A reference whose
// variables cannot be substituted is returned with Err set. Files larger
// than MaxFileBytes, or with more than MaxReferences references, are an
// error.
func ParseDockerfile(r io.Reader, opts DockerfileOptions) ([]Reference, error) {
	src, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxFileBytes {
		return nil, fmt.Errorf("%w: Dockerfile larger than %d bytes", ErrTooLarge, MaxFileBytes)
	}
	lines := splitLogical(src)
	global := map[string]string{}
	declared := map[string]bool{}
	for k := range platformArgs {
		if v, ok := opts.BuildArgs[k]; ok {
			global[k], declared[k] = v, true
		}
	}
	stages := map[string]bool{}
	nStages := 0
	var stageArgs map[string]string
	var out []Reference
	add := func(ref Reference) error {
		if len(out) >= MaxReferences {
			return fmt.Errorf("%w: more than %d references", ErrTooLarge, MaxReferences)
		}
		out = append(out, ref)
		return nil
	}
	for _, l := range lines {
		instr, rest, restAt := instruction(l)
		switch strings.ToUpper(instr) {
		case "ARG":
			for _, a := range splitWords(rest) {
				name, value, hasValue := strings.Cut(unquote(a.text), "=")
				if name == "" {
					continue
				}
				if stageArgs == nil { // before the first FROM: global
					declared[name] = true
					if v, ok := opts.BuildArgs[name]; ok {
						global[name] = v
					} else if hasValue {
						global[name] = expandOrEmpty(value, global)
					}
					continue
				}
				switch v, ok := opts.BuildArgs[name]; {
				case ok:
					stageArgs[name] = v
				case hasValue:
					stageArgs[name] = expandOrEmpty(value, stageArgs)
				default:
					if gv, ok := global[name]; ok {
						stageArgs[name] = gv // re-declared: the global value in the stage
					}
				}
			}
		case "FROM":
			words := splitWords(rest)
			var image *word
			alias := ""
			for i := 0; i < len(words); i++ {
				w := words[i]
				if strings.HasPrefix(w.text, "--") {
					continue
				}
				if image == nil {
					image = &words[i]
					continue
				}
				if strings.EqualFold(w.text, "AS") && i+1 < len(words) {
					alias = strings.ToLower(words[i+1].text)
					i++
				}
			}
			stageArgs = map[string]string{}
			for k, v := range global {
				if platformArgs[k] {
					stageArgs[k] = v
				}
			}
			nStages++
			if image != nil {
				ref := reference(image, l, restAt, "FROM")
				img, err := expand(image.text, global)
				ref.Image = img
				if err != nil {
					ref.Err = err.Error()
				}
				lower := strings.ToLower(img)
				if err != nil || (!stages[lower] && lower != "scratch") {
					if err := add(ref); err != nil {
						return nil, err
					}
				}
			}
			if alias != "" {
				stages[alias] = true
			}
		case "COPY", "RUN":
			for _, w := range splitWords(rest) {
				if !strings.HasPrefix(w.text, "--") {
					break
				}
				var from string
				var fromAt int
				switch {
				case strings.HasPrefix(strings.ToLower(w.text), "--from="):
					from, fromAt = w.text[len("--from="):], w.start+len("--from=")
				case strings.HasPrefix(strings.ToLower(w.text), "--mount="):
					mount := w.text[len("--mount="):]
					off := w.start + len("--mount=")
					for _, kv := range strings.Split(mount, ",") {
						if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "from") {
							from, fromAt = v, off+len(k)+1
						}
						off += len(kv) + 1
					}
				}
				if from == "" {
					continue
				}
				vars := merged(global, stageArgs)
				img, err := expand(unquote(from), vars)
				lower := strings.ToLower(img)
				if err == nil {
					if _, numErr := strconv.Atoi(img); numErr == nil || stages[lower] || lower == "scratch" {
						continue // a stage of this file, by index or name
					}
				}
				kind := "COPY --from"
				if strings.EqualFold(instr, "RUN") {
					kind = "RUN --mount from"
				}
				ref := reference(&word{text: from, start: fromAt}, l, restAt, kind)
				ref.Image = img
				if err != nil {
					ref.Err = err.Error()
				}
				if err := add(ref); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

func merged(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// reference returns the reference a word of l names.
func reference(w *word, l logical, restAt int, kind string) Reference {
	ref := Reference{Raw: w.text, Instruction: kind}
	if i := restAt + w.start; i < len(l.at) {
		ref.Line, ref.Column = l.at[i].line, l.at[i].col
		// The token is rewritable only if it sits on one physical line.
		end := i + len(w.text) - 1
		ref.rewritable = end < len(l.at) && l.at[end].line == ref.Line && l.at[end].col == ref.Column+len(w.text)-1
	}
	return ref
}

// splitLogical joins continuation lines, drops comment lines and
// heredoc bodies, and reads the escape directive.
func splitLogical(src []byte) []logical {
	escape := byte('\\')
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64<<10), MaxFileBytes+1)
	var phys []string
	for sc.Scan() {
		phys = append(phys, strings.TrimSuffix(sc.Text(), "\r"))
	}
	directives := true
	var out []logical
	var cur *logical
	var heredocs []string // terminators awaited
	var heredocTrim []bool
	for n, line := range phys {
		lineNo := n + 1
		if len(heredocs) > 0 {
			body := line
			if heredocTrim[0] {
				body = strings.TrimLeft(body, "\t")
			}
			if body == heredocs[0] {
				heredocs, heredocTrim = heredocs[1:], heredocTrim[1:]
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		if directives {
			if m := directiveRE.FindStringSubmatch(trimmed); m != nil {
				if strings.EqualFold(m[1], "escape") && (m[2] == "`" || m[2] == `\`) {
					escape = m[2][0]
				}
				continue
			}
			directives = false
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment line, also within a continuation
		}
		if cur == nil {
			if trimmed == "" {
				continue
			}
			cur = &logical{}
		} else if trimmed == "" {
			continue // empty lines within a continuation are dropped
		}
		text := strings.TrimRight(line, " \t")
		cont := len(text) > 0 && text[len(text)-1] == escape
		if cont {
			text = text[:len(text)-1]
		}
		for i := 0; i < len(text); i++ {
			cur.at = append(cur.at, pos{line: lineNo, col: i + 1})
		}
		cur.text += text
		if cont {
			cur.text += " "
			cur.at = append(cur.at, pos{line: lineNo, col: len(text) + 1})
			continue
		}
		out = append(out, *cur)
		w, rest, _ := instruction(*cur)
		if up := strings.ToUpper(w); up == "RUN" || up == "COPY" || up == "ADD" {
			for _, m := range heredocRE.FindAllStringSubmatch(rest, -1) {
				if m[2] != m[4] {
					continue
				}
				heredocs = append(heredocs, m[3])
				heredocTrim = append(heredocTrim, m[1] == "-")
			}
		}
		cur = nil
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// instruction splits a logical line into its instruction word and the
// rest, with the offset of the rest in the line.
func instruction(l logical) (string, string, int) {
	s := l.text
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	return s[i:j], s[j:], j
}

// word is a whitespace-separated word and its offset.
type word struct {
	text  string
	start int
}

// splitWords splits s at whitespace outside quotes.
func splitWords(s string) []word {
	var out []word
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		var quote byte
		for i < len(s) {
			c := s[i]
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote == 0 && (c == ' ' || c == '\t'):
				goto done
			}
			i++
		}
	done:
		out = append(out, word{text: s[start:i], start: start})
	}
	return out
}

// unquote removes one pair of surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return strings.NewReplacer(`"`, "", `'`, "").Replace(s)
}

// expandOrEmpty expands s, with unknown variables empty (as an ARG
// default does).
func expandOrEmpty(s string, vars map[string]string) string {
	out, err := expand(unquote(s), vars)
	if err != nil {
		return ""
	}
	return out
}

// expand substitutes $NAME, ${NAME}, ${NAME:-word}, ${NAME-word},
// ${NAME:+word} and ${NAME+word} from vars; \$ is a literal dollar. A
// variable that is not set, without a default, is an error (the
// reference cannot be known), as is any other form.
func expand(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			body := s[i+2 : i+end]
			i += end
			name, op, word := splitExpansion(body)
			if !validName(name) {
				return "", fmt.Errorf("unsupported substitution ${%s}", body)
			}
			v, set := vars[name]
			switch op {
			case "":
				if !set {
					return "", fmt.Errorf("ARG %s has no value", name)
				}
				b.WriteString(v)
			case ":-":
				if v == "" {
					v = word
				}
				b.WriteString(v)
			case "-":
				if !set {
					v = word
				}
				b.WriteString(v)
			case ":+":
				if v != "" {
					b.WriteString(word)
				}
			case "+":
				if set {
					b.WriteString(word)
				}
			default:
				return "", fmt.Errorf("unsupported substitution ${%s}", body)
			}
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			b.WriteByte(c)
			continue
		}
		name := s[i+1 : j]
		v, set := vars[name]
		if !set {
			return "", fmt.Errorf("ARG %s has no value", name)
		}
		b.WriteString(v)
		i = j - 1
	}
	return b.String(), nil
}

// splitExpansion splits "NAME:-word" into NAME, ":-" and word.
func splitExpansion(body string) (string, string, string) {
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		rest := body[i:]
		for _, op := range []string{":-", ":+", "-", "+"} {
			if strings.HasPrefix(rest, op) {
				return body[:i], op, rest[len(op):]
			}
		}
		return body[:i], rest, ""
	}
	return body, "", ""
}

func validName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
