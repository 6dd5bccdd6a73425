package replica

import (
	"strconv"
)

// facetBox is one facet on a table page, as Datasette's
// _facet_results.html shows it: the values with their counts, each a
// link that toggles its filter, a cross that removes the facet, and "…"
// when there are more values than shown.
type facetBox struct {
	Name, Kind, Total, ToggleHref, MoreHref string
	Truncated                               bool
	Values                                  []facetItem
}

// facetItem is one value of a facet box.
type facetItem struct {
	Label, Value, Count, Href string
	Selected                  bool
}

// facetBoxes lays out the facets of a page.
func facetBoxes(rt route, res *facetResults) []facetBox {
	if res == nil {
		return nil
	}
	var boxes []facetBox
	for _, f := range res.list {
		b := facetBox{Name: f.Name, Kind: f.Kind, ToggleHref: f.ToggleURL, Truncated: f.Truncated,
			Total: strconv.Itoa(len(f.Values))}
		if f.Kind == "column" {
			b.Kind = ""
		}
		if f.Truncated {
			b.Total = ">" + b.Total
			if rt.query.Get("_facet_size") != "max" {
				b.MoreHref = toggledPath(route{query: withParam(rt.query, "_facet_size", "max"), canonical: rt.canonical}, "", "", false)
			}
		}
		for _, v := range f.Values {
			label := htmlCell(v.Label).Text
			if v.Label == nil || label == "" {
				label = "-"
			}
			b.Values = append(b.Values, facetItem{Label: label, Value: keyString(v.Value), Count: groupThousands(v.Count),
				Href: v.ToggleURL, Selected: v.Selected})
		}
		boxes = append(boxes, b)
	}
	return boxes
}

// groupThousands writes n with commas, as Datasette's "{:,}".
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// labelCell shows a foreign key value as Datasette does: its label as a
// link to the referenced row, then the key.
func labelCell(l labeledValue) cell {
	text := htmlCell(l.Label).Text
	if l.Label == nil || text == "" {
		text = "-"
	}
	c := cell{Text: text, Href: l.Href, Note: htmlCell(l.Value).Text}
	if text == c.Note {
		c.Note = "" // Datasette's LINK_WITH_VALUE: the key alone
	}
	return c
}

// facetHidden keeps a page's facets through the filter form.
func facetHidden(q map[string][]string) []hidden {
	var out []hidden
	for _, name := range []string{"_facet", "_facet_array", "_facet_date", "_facet_size"} {
		for _, v := range q[name] {
			out = append(out, hidden{name, v})
		}
	}
	return out
}

// suggestedFacets are the page's suggestions (none when not computed).
func (x *pageExtras) suggestedFacets() []suggestedFacet {
	if x == nil || x.facets == nil {
		return nil
	}
	return x.facets.suggested
}
