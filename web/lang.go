package web

import (
	"strconv"
	"strings"
)

// Languages the pages are written in; the first is the default.
var languages = []string{"en", "ko"}

// maxAcceptLanguage bounds the work Lang does on a visitor-sent header.
const maxAcceptLanguage = 1024

// Lang picks the page language for an Accept-Language header value: "en" or
// "ko", whichever has the higher q-value (ties go to the one listed first),
// "en" when neither is acceptable or the header is empty or malformed.
// Region subtags are ignored ("ko-KR" counts as "ko"); a language with
// q=0 is refused; "*" stands for any language not otherwise named.
// Only the first KiB of the header is read.
func Lang(acceptLanguage string) string {
	if len(acceptLanguage) > maxAcceptLanguage {
		acceptLanguage = acceptLanguage[:maxAcceptLanguage]
	}
	best, bestQ := "", 0.0
	named := map[string]bool{}
	starQ := -1.0
	for entry := range strings.SplitSeq(acceptLanguage, ",") {
		tag, q, ok := parseLanguageRange(entry)
		if !ok {
			continue
		}
		if tag == "*" {
			if starQ < 0 {
				starQ = q
			}
			continue
		}
		primary, _, _ := strings.Cut(tag, "-")
		if !supported(primary) || named[primary] {
			continue
		}
		named[primary] = true
		if q > bestQ {
			best, bestQ = primary, q
		}
	}
	if starQ > bestQ {
		for _, l := range languages {
			if !named[l] {
				return l
			}
		}
	}
	if best == "" {
		return languages[0]
	}
	return best
}

// parseLanguageRange reads one "tag;q=0.8" item. ok is false for an item
// that is empty or malformed, which is then ignored as a whole.
func parseLanguageRange(s string) (tag string, q float64, ok bool) {
	tag, params, _ := strings.Cut(s, ";")
	tag = strings.ToLower(strings.TrimSpace(tag))
	if tag == "" || len(tag) > 35 {
		return "", 0, false
	}
	q = 1
	params = strings.TrimSpace(params)
	if params != "" {
		name, value, found := strings.Cut(params, "=")
		if !found || strings.TrimSpace(strings.ToLower(name)) != "q" {
			return "", 0, false
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || v < 0 || v > 1 {
			return "", 0, false
		}
		q = v
	}
	return tag, q, true
}

func supported(lang string) bool {
	for _, l := range languages {
		if l == lang {
			return true
		}
	}
	return false
}

// normalLang maps anything that is not a supported language to the default.
func normalLang(lang string) string {
	lang = strings.ToLower(lang)
	if supported(lang) {
		return lang
	}
	return languages[0]
}
