package requests

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/cssc-go/cssc/catalog"
)

// Kinds of typosquat.
const (
	// TyposquatDistance: a small edit distance from a known name
	// ("docker.io/library/ngnix" for "docker.io/library/nginx").
	TyposquatDistance = "edit-distance"
	// TyposquatConfusable: the same name but for characters that look
	// alike ("0" for "o", "1" for "l", "rn" for "m", "-" for "_").
	TyposquatConfusable = "confusable"
	// TyposquatNamespace: a known image name under an unexpected namespace
	// or registry ("docker.io/nginxofficial/nginx" for
	// "docker.io/library/nginx").
	TyposquatNamespace = "namespace"
)

// knownName is a known image name, split for the checks.
type knownName struct {
	name     string // registry/repository
	host     string
	path     string
	last     string // last path segment
	skeleton string
	lastSkel string // skeleton of last
}

func newKnown(name string) knownName {
	host, path, _ := strings.Cut(name, "/")
	last := path[strings.LastIndex(path, "/")+1:]
	return knownName{name: name, host: host, path: path, last: last, skeleton: skeleton(name), lastSkel: skeleton(last)}
}

// checkTyposquat compares name (registry/repository) with the known
// names: nil when name is one of them or resembles none. The closest
// resemblance wins: a confusable spelling, then the smallest edit
// distance, then a namespace.
func checkTyposquat(name string, known []knownName, maxDistance int) *catalog.Typosquat {
	for _, k := range known {
		if k.name == name {
			return nil
		}
	}
	n := newKnown(name)
	var best *catalog.Typosquat
	bestDist := 1 << 30
	for _, k := range known {
		if n.skeleton == k.skeleton {
			return &catalog.Typosquat{Resembles: k.name, Kind: TyposquatConfusable,
				Detail: fmt.Sprintf("%s differs from %s only by characters that look alike", name, k.name)}
		}
		if maxDistance < 0 {
			continue
		}
		limit := maxDistance
		if limit == 0 {
			limit = 1
			if utf8.RuneCountInString(k.last) >= 8 {
				limit = 2
			}
		}
		// Compare within the same registry by path, and across registries
		// by the whole name (a look-alike host).
		a, b := n.path, k.path
		if n.host != k.host {
			a, b = n.name, k.name
		}
		if d := distance(a, b, limit); d > 0 && d <= limit && d < bestDist {
			bestDist = d
			best = &catalog.Typosquat{Resembles: k.name, Kind: TyposquatDistance,
				Detail: fmt.Sprintf("%s is %d edit(s) away from %s", name, d, k.name)}
		}
	}
	if best != nil {
		return best
	}
	for _, k := range known {
		if n.last == k.last || n.lastSkel == k.lastSkel {
			return &catalog.Typosquat{Resembles: k.name, Kind: TyposquatNamespace,
				Detail: fmt.Sprintf("%s names the known image %s under another namespace or registry", name, k.name)}
		}
	}
	return nil
}

// lookAlikes maps each character (or pair) that looks like another to
// the one it imitates; built once, as strings.Replacer is safe for
// concurrent use.
var lookAlikes = strings.NewReplacer(
	"rn", "m", "vv", "w", "cl", "d",
	"0", "o", "1", "l", "i", "l", "|", "l", "5", "s", "$", "s", "3", "e", "4", "a", "@", "a", "8", "b", "9", "g", "6", "b", "7", "t",
	"_", "-", ".", "-", "--", "-",
)

// skeleton maps characters that look alike in a reference to one form,
// so that names equal up to look-alikes have equal skeletons.
func skeleton(s string) string {
	s = strings.ToLower(s)
	prev := ""
	for prev != s {
		prev, s = s, lookAlikes.Replace(s)
	}
	return s
}

// distance returns the optimal string alignment distance between a and b
// (Levenshtein with adjacent transpositions), or limit+1 as soon as it
// exceeds limit. It works on bytes: references are ASCII.
func distance(a, b string, limit int) int {
	if abs(len(a)-len(b)) > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
