/* parkmap.js: our Leaflet glue for the pages webapp/compose.py writes.
 *
 * Parkmap.layer(map, spec, source) -> an L.geoJSON overlay, filled from source.url (fetched with
 *                                    the page; if source.lazy, when first ticked) or
 *                                    source.data; source.details: where a popup fetches the
 *                                    rest of its feature ("{id}" in the URL).
 * Parkmap.ui(map, config[, layersControl]) -> legend, search, fullscreen, scale bar, URL state;
 *                                    on a narrow map (a phone) the layer control and legend
 *                                    start collapsed, so the map itself stays visible.
 * Parkmap.focus(featureId)          -> zoom to a feature and open its popup (its layer shown if it
 *                                    was only offered). A page's ?focus=<feature id> does this
 *                                    once its layers have loaded (config.focus, checked by the
 *                                    server). The URL keeps `focus` while that popup stays open
 *                                    and the reader has not moved the map; it is dropped when the
 *                                    popup closes or the reader pans/zooms (the view and layers
 *                                    stay), and nothing re-opens it later.
 * Parkmap.highlight(ids)            -> draw the features with these ids emphasised (class
 *                                    pm-highlight on their SVG paths, a thicker opaque outline)
 *                                    and the previous set plain again; highlight([]) clears.
 *                                    Unknown and unlocated ids are ignored; features drawn later
 *                                    (a lazy layer, a clustered layer's points as they ungroup)
 *                                    are emphasised when drawn. Returns how many are drawn
 *                                    emphasised now (on a clustered layer: those shown by
 *                                    themselves), so call it once Parkmap.ready has resolved.
 * "parkmap:select" (window event)   -> dispatched whenever a feature's popup opens (a click,
 *                                    search, the parks panel, focus...): event.detail is
 *                                    {id: <feature id>, layer: <layer id>}. With highlight(),
 *                                    the hooks for a same-origin page embedding /embed/<id>
 *                                    (iframe.contentWindow.Parkmap; the plan reader).
 * Parkmap.passageAnchor(ref)        -> ["000", "一-一-3"] for the plan reference "000 一(一)3"
 *                                    (null if ref is not "<3 digits>( <section>)?"): popups link
 *                                    each reference of `source` and `named_in` to
 *                                    /plan/<doc>#<anchor> (target _top: out of an iframe). The
 *                                    same rule as webapp/passages.py, which the plan reader uses.
 * Parkmap.suggest(placeId)          -> the "suggest a location" form for a place (full map pages:
 *                                      config.suggest), sent to the server for review.
 * Parkmap.ready                     -> a Promise resolved when every shown layer has loaded (and
 *                                    the ?focus feature, if any, is shown with its popup open);
 *                                    <html data-pm-ready="1"> is set then.
 * The parks panel (map page: #pm-parks) is built here from the parks layer: filters in the
 * page, rows rendered as they scroll into view, so the page does not grow with the data.
 *
 * Every value from data or the URL enters the DOM as text (textContent) or as a CSSOM
 * property, never as HTML: popups, tooltips, legend and search results are built node by node.
 */
(function () {
  "use strict";

  var configure;
  var configured = new Promise(function (resolve) { configure = resolve; });  // by Parkmap.ui
  var P = window.Parkmap = {layers: {}, order: [], features: {}, loads: [], data: {}, onData: {},
                            config: null, map: null,
                            ready: null, atPoint: {}, collapsed: false};
  // The ?focus id while the URL keeps it (see Parkmap.focus above); readerMoved: the reader
  // has pressed, scrolled or typed on the map since the focus opened.
  var focusHeld = null, readerMoved = false;
  // A layer's outlines being swapped for finer ones (finer()): the popup it closes and
  // re-opens is no reader's doing.
  var swapping = false;
  var highlighted = {};  // Parkmap.highlight's ids
  // Below this map width (px) open panels would cover the map: start them collapsed.
  var NARROW = 600;

  function pointKey(f) {
    return f.geometry && f.geometry.type === "Point" ? f.geometry.coordinates.join(",") : null;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function cssClass(id) { return "pm-f-" + String(id).replace(/[^A-Za-z0-9_-]/g, "_"); }

  function styleFor(spec, kind) {
    return spec.styles[kind] || spec.styles[Object.keys(spec.styles)[0]] || {};
  }

  function leafletStyle(spec, f) {
    var s = styleFor(spec, f.properties.kind), out = {};
    ["color", "weight", "opacity", "fillColor", "fillOpacity", "radius", "dashArray"].forEach(function (k) {
      if (s[k] !== undefined && s[k] !== null) out[k] = s[k];
    });
    out.className = "pm-feature " + cssClass(f.properties.id);
    return out;
  }

  function pointStyle(spec, f) {
    var out = leafletStyle(spec, f);
    var look = P.config.confidence[f.properties.confidence];
    if (look) {
      out.fillOpacity = look.fillOpacity;
      out.weight = look.weight;
      if (look.dashArray) out.dashArray = look.dashArray;
    }
    out.fill = true;
    return out;
  }

  function names(p) {
    var zh = p.name_zh, en = p.name_en;
    return P.config.lang === "en" ? [en || zh, en ? zh : null] : [zh || en, zh ? en : null];
  }

  function label(table, value) {
    var t = P.config.names[table] || {};
    return Object.prototype.hasOwnProperty.call(t, value) ? t[value] : value;
  }

  function listText(v) {
    if (Array.isArray(v)) return v.join(P.config.lang === "en" ? ", " : "、");
    return v;
  }

  /* A plan reference "<doc> <section>" -> [doc, anchor]: the anchor is the section with its
     brackets turned to hyphens, repeats collapsed, none at either end ("000 一(一)3" ->
     ["000", "一-一-3"], "003" -> ["003", ""]); null for anything else. The one JS copy of the
     rule in webapp/passages.py (passage_anchor), by which the plan reader names its sections. */
  var REFERENCE = /^([0-9]{3})(?: (\S+))?$/;
  function passageAnchor(ref) {
    var m = REFERENCE.exec(String(ref));
    if (!m) return null;
    var anchor = (m[2] || "").replace(/[()（）\[\]［］【】〔〕]/g, "-").replace(/-{2,}/g, "-")
      .replace(/^-+|-+$/g, "");
    return [m[1], anchor];
  }
  P.passageAnchor = passageAnchor;

  /* A reference as a link to its passage in the plan reader (leaving an iframe), or as text
     where it is not a plan reference or the page has no plan reader (config.planBase). */
  function passageLink(ref) {
    var pa = P.config.planBase ? passageAnchor(ref) : null;
    if (!pa) return document.createTextNode(ref);
    var a = el("a", "pm-plan-link", ref), t = P.config.text;
    a.href = P.config.planBase + pa[0] + (pa[1] ? "#" + pa[1] : "");
    a.target = "_top";
    a.title = t.read_plan;
    a.setAttribute("aria-label", ref + " — " + t.read_plan);
    return a;
  }

  /* `source` ("000 一(一)3; line2.csv") or `named_in` (["000", "003"]) into parent: each plan
     reference a link, everything else text, separators as they were. */
  function references(parent, value) {
    if (Array.isArray(value)) {
      value.forEach(function (v, i) {
        if (i) parent.appendChild(document.createTextNode(P.config.lang === "en" ? ", " : "、"));
        parent.appendChild(passageLink(String(v)));
      });
      return parent;
    }
    String(value).split(/(\s*;\s*)/).forEach(function (part, i) {
      if (i % 2) parent.appendChild(document.createTextNode(part));
      else if (part) parent.appendChild(passageLink(part));
    });
    return parent;
  }

  function tooltip(f) {
    var n = names(f.properties), d = el("div", "pm-tip");
    d.appendChild(el("strong", null, n[0]));
    if (n[1]) d.appendChild(el("span", "pm-alt", " " + n[1]));
    return d;
  }

  function popup(f) {
    var rec = P.features[f.properties.id] || {};
    var p = rec.full || f.properties, t = P.config.text, n = names(p);
    var d = el("div", "pm-popup");
    if (rec.full || !rec.details) d.setAttribute("data-pm-full", "1");  // nothing more to come
    d.appendChild(el("h3", null, n[0]));
    if (n[1]) d.appendChild(el("div", "pm-alt", n[1]));
    var dl = el("dl");
    function row(key, value, linked) {
      if (value === undefined || value === null || value === "" ||
          (Array.isArray(value) && !value.length)) return;
      dl.appendChild(el("dt", null, t[key]));
      dl.appendChild(linked ? references(el("dd", "pm-" + key), value) : el("dd", "pm-" + key, value));
    }
    if (p.confidence === "area" && (p.within_zh || p.within_en)) {
      // a ring stands for an area, not a spot: say which
      dl.appendChild(el("dt", null, t.where));
      dl.appendChild(el("dd", "pm-where", t.somewhere.replace("{area}",
        P.config.lang === "en" ? (p.within_en || p.within_zh) : (p.within_zh || p.within_en))));
    }
    row("role", p.role);
    row("zone", p.zone && label("zone", p.zone));
    row("district", p.district && label("district", p.district));
    row("subdistrict", P.config.lang === "en" ? (p.subdistrict_en || p.subdistrict) : p.subdistrict);
    row("themes", listText(Array.isArray(p.themes) ? p.themes.map(function (x) { return label("theme", x); }) : p.themes));
    if (p.passage) {
      dl.appendChild(el("dt", null, t.passage));
      var dd = el("dd", "pm-passage");
      dd.appendChild(el("q", null, p.passage));
      dd.appendChild(references(el("cite", null, "— "), p.source || ""));
      dl.appendChild(dd);
    } else {
      row("source", p.source, true);
    }
    if (p.passage) row("named_in", p.named_in, true);
    row("year", p.year);
    row("basis", p.basis);
    if (p.location_quote || p.location_source) {
      dl.appendChild(el("dt", null, t.location_source));
      var src = el("dd", "pm-location-source");
      if (p.location_quote) src.appendChild(el("q", null, p.location_quote));
      if (p.location_source) {
        var cite = el("cite", null, "— ");
        if (/^https?:\/\//i.test(p.location_source)) {
          var a = el("a", null, p.location_source);
          a.href = p.location_source;
          a.rel = "noopener noreferrer";
          a.target = "_blank";
          cite.appendChild(a);
        } else {
          cite.appendChild(document.createTextNode(p.location_source));
        }
        if (p.location_date) cite.appendChild(document.createTextNode(" (" + p.location_date + ")"));
        src.appendChild(cite);
      }
      dl.appendChild(src);
    }
    row("confidence", p.confidence && label("confidence", p.confidence));
    row("data", rec.spec && rec.spec.attribution);
    d.appendChild(dl);
    var others = (P.atPoint[pointKey(f)] || []).filter(function (id) { return id !== p.id; });
    if (others.length) {  // approximate places can share one point: list the others here
      d.appendChild(el("div", "pm-also", t.also_here));
      var ul = el("ul", "pm-also-list");
      others.forEach(function (id) {
        var b = el("button", null, names(P.features[id].feature.properties)[0]);
        b.type = "button";
        b.addEventListener("click", function (e) {
          L.DomEvent.stopPropagation(e);  // the button leaves the DOM: Leaflet would see a map click
          P.open(id);
        });
        var li = el("li");
        li.appendChild(b);
        ul.appendChild(li);
      });
      d.appendChild(ul);
    }
    if (rec && rec.feature.geometry) {
      var b = el("button", "pm-zoom", t.zoom);
      b.type = "button";
      b.addEventListener("click", function (e) {
        L.DomEvent.stopPropagation(e);
        P.focus(p.id);
      });
      d.appendChild(b);
    }
    if (P.config.suggest && (p.confidence === "area" || p.confidence === "unlocated") &&
        isPlace(rec)) {
      var sb = el("button", "pm-suggest-open", t.suggest);
      sb.type = "button";
      sb.addEventListener("click", function (e) {
        L.DomEvent.stopPropagation(e);
        P.map.closePopup();
        P.suggest(p.id);
      });
      d.appendChild(sb);
    }
    return d;
  }

  /* A named place (a park, or the 一园 of the Jing'an layout): what suggestions are for. */
  function isPlace(rec) {
    if (!rec || !rec.spec) return false;
    return rec.spec.id === "parks" || (rec.spec.id === "jingan_layout" && rec.feature.properties.kind === "park");
  }

  /* The feature's every property: fetched once, when a popup first needs it. */
  P.details = function (id) {
    var rec = P.features[id];
    if (!rec) return Promise.reject(new Error("no feature " + id));
    if (rec.full || !rec.details) return Promise.resolve(rec.full || rec.feature.properties);
    if (!rec.pending) {
      rec.pending = fetch(rec.details.replace("{id}", encodeURIComponent(id))).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (body) {
        rec.full = body.properties;
        return rec.full;
      });
      rec.pending.catch(function (err) {
        rec.pending = null;
        console.error("parkmap: details of " + id + " failed to load: " + err.message);
      });
    }
    return rec.pending;
  };

  function bind(spec, source, f, lyr) {
    var isPoint = f.geometry && f.geometry.type === "Point";
    lyr.bindTooltip(function () { return tooltip(f); }, {sticky: !isPoint, direction: "top"});
    // Small embeds scroll inside the popup; full pages keep it clear of the open layer control.
    var height = P.map ? P.map.getSize().y : 600, top = P.collapsed ? 10 : 170;
    lyr.bindPopup(function () { return popup(f); },
                  {maxWidth: 340, maxHeight: Math.max(160, Math.min(420, height - top - 100)),
                   autoPanPaddingTopLeft: L.point(50, top)});
    lyr.on("popupopen", function () {
      if (!swapping) {
        window.dispatchEvent(new CustomEvent("parkmap:select",
                                             {detail: {id: f.properties.id, layer: spec.id}}));
      }
      var rec = P.features[f.properties.id];
      if (rec.full || !rec.details) return;
      P.details(f.properties.id).then(function () {
        if (lyr.isPopupOpen() && P.map.hasLayer(lyr)) lyr.setPopupContent(popup(f));
      });
    });
    var rec = P.features[f.properties.id];
    if (rec) rec.layer = lyr;
    if (highlighted[f.properties.id]) emphasise(lyr, true);  // drawn after highlight() asked
  }

  /* A drawn feature emphasised (thicker, opaque outline; class pm-highlight on its SVG path)
     or back to its own style. */
  function emphasise(lyr, on) {
    if (!lyr || !lyr.setStyle || !!lyr.pmEmphasised === on) return;
    lyr.pmEmphasised = on;
    var o = lyr.options;
    if (on) lyr.pmPlain = {weight: o.weight, opacity: o.opacity};
    var cls = String(o.className || "").replace(/\s*\bpm-highlight\b/g, "");
    o.className = on ? cls + " pm-highlight" : cls;  // a path made later gets it too
    if (lyr._path) L.DomUtil[on ? "addClass" : "removeClass"](lyr._path, "pm-highlight");
    lyr.setStyle(on ? {weight: (lyr.pmPlain.weight || 2) + 3, opacity: 1} : lyr.pmPlain);
    if (on && lyr._map && lyr.bringToFront) lyr.bringToFront();
  }

  P.highlight = function (ids) {
    var want = {}, n = 0;
    (Array.isArray(ids) ? ids : []).forEach(function (id) { want[String(id)] = true; });
    Object.keys(highlighted).forEach(function (id) {
      if (want[id]) return;
      var rec = P.features[id];
      if (rec) emphasise(rec.layer, false);
    });
    highlighted = {};
    Object.keys(want).forEach(function (id) {
      var rec = P.features[id];
      if (rec && !rec.feature.geometry) return;  // unlocated: nothing to draw
      highlighted[id] = true;  // not loaded yet (a lazy layer): emphasised when drawn
      if (!rec || !rec.layer) return;
      emphasise(rec.layer, true);
      if (P.map && P.map.hasLayer(rec.layer)) n++;
    });
    return n;
  };

  /* Every feature of a layer's data is known (search, the panel, popups), whether or not it is
     drawn at the moment (a clustered layer draws only what is in view). */
  function addData(group, spec, source, doc) {
    (doc.features || []).forEach(function (f) {
      var id = f.properties && f.properties.id;
      if (id === undefined || P.features[id]) return;
      P.features[id] = {feature: f, layer: null, spec: spec, details: source.details};
      var key = pointKey(f);
      if (key) (P.atPoint[key] = P.atPoint[key] || []).push(id);
    });
    if (group.pmCluster) group.pmCluster.fill(doc);
    else group.addData(doc);
    P.data[spec.id] = doc;
    if (P.onData[spec.id]) P.onData[spec.id](doc);
  }

  P.layer = function (map, spec, source) {
    // One pane per layer, stacked in registry order, so drawing order does not depend on
    // which layer's data arrives first.
    var pane = "pm-" + spec.id.replace(/[^A-Za-z0-9_-]/g, "_");
    if (!map.getPane(pane)) map.createPane(pane).style.zIndex = String(400 + P.order.length);
    // SVG draws our few hundred shapes sooner than a canvas per pane (measured); a clustered
    // layer's points, redrawn at every move, go on a canvas.
    var renderer = source.cluster ? L.canvas({pane: pane, padding: 0.3}) : undefined;
    var group = L.geoJSON(null, {
      pane: pane,
      renderer: renderer,
      // L.geoJSON re-applies `style` to every layer it makes, markers included.
      style: function (f) { return pointKey(f) ? pointStyle(spec, f) : leafletStyle(spec, f); },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, L.extend(pointStyle(spec, f), {pane: pane, renderer: renderer}));
      },
      onEachFeature: function (f, lyr) { bind(spec, source, f, lyr); }
    });
    group.parkmapId = spec.id;
    if (source.cluster) group.pmCluster = cluster(map, group, pane, source.cluster);
    P.layers[spec.id] = group;
    P.order.push(spec.id);
    var loading = null;
    function load() {  // once, whether shown or only listed (the parks panel)
      if (loading) return loading;
      var data = source.url ? fetch(source.url).then(function (r) {
        if (!r.ok) throw new Error(source.url + ": HTTP " + r.status);
        return r.json();
      }) : Promise.resolve(source.data);
      loading = Promise.all([data, configured]).then(function (res) {
        addData(group, spec, source, res[0]);
      }).catch(function (err) {
        console.error("parkmap: layer " + spec.id + " failed to load: " + err.message);
        throw err;
      });
      return loading;
    }
    group.pmLoad = load;
    if (source.lazy) group.once("add", load);  // offered unticked: fetched when first shown
    else P.loads.push(load());
    if (source.fine) configured.then(function () { finer(map, group, spec, source, load); });
    return group;
  };

  /* A layer drawn with coarse outlines at low zooms: the finer ones replace them, once, when
     the reader zooms in to source.fine.minZoom. */
  function finer(map, group, spec, source, loaded) {
    var pending = null;
    function swap() {  // once (again after a failure): the finer outlines for the coarse ones
      if (pending) return pending;
      pending = Promise.all([loaded(), fetch(source.fine.url).then(function (r) {
        if (!r.ok) throw new Error(source.fine.url + ": HTTP " + r.status);
        return r.json();
      })]).then(function (res) {
        var open = null;  // a popup open on a coarse outline re-opens on its finer one
        group.eachLayer(function (l) {
          if (l.feature && l.isPopupOpen && l.isPopupOpen()) open = l.feature.properties.id;
        });
        swapping = true;
        try {
          group.clearLayers();
          Object.keys(P.atPoint).forEach(function (k) {
            P.atPoint[k] = P.atPoint[k].filter(function (id) { return !P.features[id] || P.features[id].spec.id !== spec.id; });
          });
          var full = {};  // properties fetched for a popup: still theirs
          Object.keys(P.features).forEach(function (id) {
            if (P.features[id].spec.id !== spec.id) return;
            if (P.features[id].full) full[id] = P.features[id].full;
            delete P.features[id];
          });
          addData(group, spec, source, res[1]);
          Object.keys(full).forEach(function (id) { if (P.features[id]) P.features[id].full = full[id]; });
          var rec = open === null ? null : P.features[open];
          if (rec && rec.layer) rec.layer.openPopup();
        } finally {
          swapping = false;
        }
      }).catch(function (err) {
        pending = null;
        console.error("parkmap: finer " + spec.id + " failed to load: " + err.message);
        throw err;
      });
      return pending;
    }
    function check() {
      if (map.getZoom() < source.fine.minZoom || !map.hasLayer(group)) return;
      swap().catch(function () {});  // said on the console; tried again at the next zoom
    }
    // now, whatever the zoom: a feature the overview leaves out (a ?focus on it)
    group.pmFine = swap;
    map.on("zoomend", check);
    group.on("add", check);  // a layer ticked on while zoomed in
    check();
  }

  /* A point layer past the server's threshold (source.cluster = {cell, maxZoom}): the map draws,
     for the view only, one marker per occupied grid cell of `cell` px (its count; a click zooms
     in), the point itself where a cell holds one, and every point from maxZoom on. A hundred
     thousand parks are then a few hundred things drawn, not a hundred thousand. */
  function cluster(map, group, pane, opts) {
    var pts = [], shown = {}, markers = [], lat = null, lng = null, x = null, y = null;
    function fill(doc) {
      pts = (doc.features || []).filter(function (f) { return pointKey(f); });
      group.addData({type: "FeatureCollection", features: (doc.features || []).filter(function (f) {
        return f.geometry && !pointKey(f);  // other shapes: drawn as they are, once
      })});
      var n = pts.length;
      lat = new Float64Array(n); lng = new Float64Array(n); x = new Float64Array(n); y = new Float64Array(n);
      pts.forEach(function (f, i) {  // Web Mercator in [0, 1): a cell is a floor() away
        var c = f.geometry.coordinates, s = Math.sin(c[1] * Math.PI / 180);
        lng[i] = c[0]; lat[i] = c[1];
        x[i] = (c[0] + 180) / 360;
        y[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
      });
      render();
    }
    function marker(members, count) {
      var sLat = 0, sLng = 0, bounds = L.latLngBounds([]);
      members.forEach(function (i) { sLat += lat[i]; sLng += lng[i]; bounds.extend([lat[i], lng[i]]); });
      var size = Math.round(24 + 6 * Math.log(count) / Math.LN10), label = el("span", null, String(count));
      var m = L.marker([sLat / members.length, sLng / members.length], {
        pane: pane, keyboard: true, title: P.config.text.cluster.replace("{n}", String(count)),
        icon: L.divIcon({className: "pm-cluster", html: label, iconSize: [size, size]})});
      m.on("click", function () {
        map.fitBounds(bounds, {maxZoom: Math.max(map.getZoom() + 1, Math.min(opts.maxZoom, map.getMaxZoom())),
                               padding: [20, 20]});
      });
      return m;
    }
    function render() {
      if (!x || !map.hasLayer(group)) return;
      markers.forEach(function (m) { group.removeLayer(m); });
      markers = [];
      var z = map.getZoom(), b = map.getBounds().pad(0.25), n = pts.length;
      var s = b.getSouth(), w = b.getWest(), nn = b.getNorth(), e = b.getEast();
      var scale = 256 * Math.pow(2, z) / opts.cell, cells = {}, singles = [];
      for (var i = 0; i < n; i++) {
        if (lat[i] < s || lat[i] > nn || lng[i] < w || lng[i] > e) continue;
        if (z >= opts.maxZoom) { singles.push(i); continue; }
        var key = Math.floor(x[i] * scale) + ":" + Math.floor(y[i] * scale);
        (cells[key] = cells[key] || []).push(i);
      }
      Object.keys(cells).forEach(function (k) {
        var members = cells[k];
        if (members.length === 1) singles.push(members[0]);
        else markers.push(marker(members, members.length).addTo(group));
      });
      // Points drawn before and still single stay as they are (an open popup stays open).
      var now = {}, add = [];
      singles.forEach(function (i) {
        if (shown[i]) now[i] = shown[i];
        else add.push(i);
      });
      Object.keys(shown).forEach(function (i) {
        if (now[i]) return;
        var rec = P.features[pts[i].properties.id];
        if (rec && rec.layer === shown[i]) rec.layer = null;
        group.removeLayer(shown[i]);
      });
      group.addData({type: "FeatureCollection", features: add.map(function (i) { return pts[i]; })});
      add.forEach(function (i) { now[i] = P.features[pts[i].properties.id].layer; });
      shown = now;
    }
    map.on("moveend", render);
    group.on("add", render);
    return {
      fill: fill,
      render: render,
      reveal: function (f) {  // show the point itself: zoomed in to where nothing is grouped
        var c = f.geometry.coordinates;
        map.setView([c[1], c[0]], Math.max(map.getZoom(), opts.maxZoom), {animate: false});
        render();
      }
    };
  }

  P.focus = function (id) {
    var rec = P.features[id];
    if (!rec || !rec.feature.geometry || !P.map) return false;
    var group = P.layers[rec.spec.id];
    if (!P.map.hasLayer(group)) P.map.addLayer(group);
    if (!rec.layer && group.pmCluster) group.pmCluster.reveal(rec.feature);
    if (!rec.layer) return false;
    // No animation: the popup's auto-pan then starts from the final view.
    if (rec.layer.getBounds) P.map.fitBounds(rec.layer.getBounds(), {maxZoom: 16, animate: false});
    else P.map.setView(rec.layer.getLatLng(), Math.max(P.map.getZoom(), 16), {animate: false});
    rec.layer.openPopup();
    return true;
  };

  /* The page's ?focus (config.focus = {id, layer}): its layer loaded (an offered layer is
     fetched only when shown), then shown, zoomed to, popup open. */
  function openFocus(f) {
    var group = f.layer && P.layers[f.layer];
    return (group ? group.pmLoad() : Promise.resolve()).then(function () {
      // the coarse outlines of low zooms leave out small features: the finer ones have them
      if (!P.features[f.id] && group && group.pmFine) return group.pmFine();
    }).then(function () {
      readerMoved = false;
      if (!P.focus(f.id)) focusHeld = null;
    }, function () { focusHeld = null; });
  }

  /* Open a feature's popup where the map is (a feature drawn in view), else zoom to it. */
  P.open = function (id) {
    var rec = P.features[id];
    if (rec && rec.layer && P.map.hasLayer(rec.layer)) return rec.layer.openPopup(), true;
    return P.focus(id);
  };

  /* Search over every loaded feature by Chinese or English name (case-insensitive). */
  P.search = function (query, limit) {
    var q = String(query).trim().toLowerCase(), out = [];
    if (!q) return out;
    Object.keys(P.features).forEach(function (id) {
      var p = P.features[id].feature.properties;
      var hay = [(p.name_zh || ""), (p.name_en || "")].join("\n").toLowerCase();
      if (hay.indexOf(q) >= 0) out.push(P.features[id]);
    });
    out.sort(function (a, b) {  // parks first, then by name
      var pa = a.spec.id === "parks" ? 0 : 1, pb = b.spec.id === "parks" ? 0 : 1;
      return pa - pb || String(names(a.feature.properties)[0]).localeCompare(String(names(b.feature.properties)[0]));
    });
    return out.slice(0, limit || 12);
  };

  function control(position, build) {
    var C = L.Control.extend({options: {position: position}, onAdd: function () {
      var box = build();
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    }});
    return new C();
  }

  function swatch(shape, style) {
    var s = el("span", "pm-swatch pm-swatch-" + shape);
    if (shape === "line") {
      s.style.borderTopColor = style.color;
      s.style.borderTopWidth = Math.max(2, Math.min(style.weight || 2, 6)) + "px";
      s.style.borderTopStyle = style.dashArray ? "dashed" : "solid";
    } else {
      s.style.borderColor = style.color;
      s.style.backgroundColor = style.fillColor || style.color;
      if (style.fillOpacity !== undefined) s.style.setProperty("--pm-fill", style.fillOpacity);
      if (style.dashArray) s.style.borderStyle = "dashed";
    }
    return s;
  }

  function legend(config) {
    var box = el("details", "pm-legend leaflet-control");
    box.open = !P.collapsed;
    box.appendChild(el("summary", "pm-legend-title", config.text.legend));
    var hasPoints = false;
    config.legend.forEach(function (group) {
      var g = el("div", "pm-legend-group");
      g.appendChild(el("div", "pm-legend-layer", group.title));
      group.items.forEach(function (it) {
        if (it.shape === "point") hasPoints = true;
        var row = el("div", "pm-legend-item");
        row.appendChild(swatch(it.shape, it.style));
        row.appendChild(el("span", null, it.label));
        g.appendChild(row);
      });
      box.appendChild(g);
    });
    if (hasPoints) {
      var g = el("div", "pm-legend-group");
      g.appendChild(el("div", "pm-legend-layer", config.text.confidence));
      Object.keys(config.confidence).forEach(function (k) {
        var look = config.confidence[k], row = el("div", "pm-legend-item");
        row.appendChild(swatch("point", {color: "#444", fillColor: "#444", fillOpacity: look.fillOpacity,
                                         dashArray: look.dashArray}));
        row.appendChild(el("span", null, look.label));
        g.appendChild(row);
      });
      box.appendChild(g);
    }
    return box;
  }

  function searchBox(config) {
    var box = el("div", "pm-search leaflet-control leaflet-bar");
    var input = el("input");
    input.type = "search";
    input.placeholder = config.text.search;
    input.setAttribute("aria-label", config.text.search);
    var list = el("ul", "pm-search-results");
    box.appendChild(input);
    box.appendChild(list);
    function show() {
      list.textContent = "";
      if (!input.value.trim()) return;
      var hits = P.search(input.value);
      if (!hits.length) list.appendChild(el("li", "pm-none", config.text.no_results));
      hits.forEach(function (rec) {
        var n = names(rec.feature.properties), li = el("li");
        var b = el("button", null, n[0]);
        b.type = "button";
        if (n[1]) b.appendChild(el("span", "pm-alt", " " + n[1]));
        if (!rec.feature.geometry) {
          b.disabled = true;
          b.appendChild(el("span", "pm-unlocated", " (" + config.text.unlocated + ")"));
        }
        b.addEventListener("click", function (e) {
          L.DomEvent.stopPropagation(e);  // the button leaves the DOM: Leaflet would see a map click
          list.textContent = "";  // out of the popup's way
          P.focus(rec.feature.properties.id);
        });
        li.appendChild(b);
        list.appendChild(li);
      });
    }
    input.addEventListener("input", show);
    input.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") return;
      var first = P.search(input.value).filter(function (r) { return r.feature.geometry; })[0];
      if (first) {
        list.textContent = "";
        P.focus(first.feature.properties.id);
      }
    });
    return box;
  }

  function fullscreenIcon() {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    svg.appendChild(path);
    return svg;
  }

  function fullscreenButton(map, config) {
    var box = el("div", "pm-fullscreen leaflet-control leaflet-bar");
    var b = el("button");
    b.type = "button";
    b.appendChild(fullscreenIcon());
    b.title = config.text.fullscreen;
    b.setAttribute("aria-label", config.text.fullscreen);
    b.addEventListener("click", function () {
      var target = map.getContainer();
      if (document.fullscreenElement) document.exitFullscreen();
      else if (target.requestFullscreen) target.requestFullscreen();
    });
    document.addEventListener("fullscreenchange", function () {
      var on = !!document.fullscreenElement;
      b.title = on ? config.text.exit_fullscreen : config.text.fullscreen;
      b.setAttribute("aria-label", b.title);
      map.invalidateSize();
    });
    box.appendChild(b);
    return box;
  }

  function attr(s) {
    return String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /* The current view and visible layers, as the URL query of this page. The view is WGS84 on
     every basemap: on GCJ-02 tiles the centre is shifted back by the offset it opened with
     (the shift changes by metres across the city, below the 5 decimals kept). */
  P.state = function () {
    var params = new URLSearchParams(window.location.search), c = P.map.getCenter();
    var off = P.config.viewOffset || [0, 0];
    params.set("view", (c.lat - off[0]).toFixed(5) + "," + (c.lng - off[1]).toFixed(5) + "," + P.map.getZoom());
    params.set("layers", P.order.filter(function (id) { return P.map.hasLayer(P.layers[id]); }).join(","));
    if (!focusHeld) params.delete("focus");  // opened once; the view above shows where it was
    return params;
  };

  /* Keep the embed snippet (<textarea id="pm-embed-snippet">) pointing at the current view:
     only its iframe src and its link to the full map change, whatever else it holds. */
  function updateSnippet(params) {
    var box = document.getElementById("pm-embed-snippet");
    if (!box) return;
    var keep = new URLSearchParams();
    ["layers", "view", "basemap", "lang"].forEach(function (k) { if (params.get(k)) keep.set(k, params.get(k)); });
    var query = "?" + keep.toString();
    var src = attr(box.getAttribute("data-embed-base") + query);
    var full = attr(box.getAttribute("data-full-base") + query);
    box.value = box.value
      .replace(/(<iframe src=")[^"]*(")/, function (m, a, b) { return a + src + b; })
      .replace(/(<a href=")[^"]*(")/, function (m, a, b) { return a + full + b; });
  }

  P.ui = function (map, config, layersControl) {
    P.map = map;
    P.config = config;
    P.collapsed = config.compact || map.getSize().x < NARROW;
    if (layersControl && P.collapsed && !layersControl.options.collapsed) {
      // Leaflet wires its collapse behaviour at creation only. A tap anywhere on the map closes
      // it again: a DOM listener, as Leaflet's map "click" skips taps on features.
      layersControl.options.collapsed = true;
      layersControl.collapse();
      map.getContainer().addEventListener("click", function (e) {
        if (!layersControl.getContainer().contains(e.target)) layersControl.collapse();
      });
    }
    var has = function (c) { return config.controls.indexOf(c) >= 0; };
    if (has("search")) control("topleft", function () { return searchBox(config); }).addTo(map);
    if (has("fullscreen")) control("topleft", function () { return fullscreenButton(map, config); }).addTo(map);
    if (has("scale")) L.control.scale({imperial: false}).addTo(map);
    // our constant OSM credit (HTML with its link), never data
    if (config.attribution && map.attributionControl) map.attributionControl.addAttribution(config.attribution);
    if (has("legend")) control("bottomright", function () { return legend(config); }).addTo(map);
    function syncUrl() {
      var params = P.state();
      window.history.replaceState(null, "", "?" + params.toString());
      updateSnippet(params);
    }
    if (config.urlState) map.on("moveend overlayadd overlayremove", syncUrl);
    // ?focus stays in the URL until the reader closes its popup or moves the map themselves
    // (a press, wheel or key on the map, then a move: not the popup's own auto-pan).
    focusHeld = config.focus ? config.focus.id : null;
    function release() {
      if (!focusHeld) return;
      focusHeld = null;
      if (config.urlState) syncUrl();
    }
    ["pointerdown", "wheel", "keydown", "touchstart"].forEach(function (type) {
      map.getContainer().addEventListener(type, function () { readerMoved = true; },
                                          {capture: true, passive: true});
    });
    map.on("movestart", function () { if (readerMoved) release(); });
    map.on("popupclose", function () { if (!swapping) release(); });
    configure(config);
    P.ready = Promise.all(P.loads).then(function () {
      if (config.focus) return openFocus(config.focus);
    }).then(function () {
      if (config.urlState) syncUrl();
      document.documentElement.setAttribute("data-pm-ready", "1");
    });
    return P.ready;
  };


  /* "Suggest a location": click the map or find a typed address, give a source, send. The
     server keeps it for review; nothing on the map changes. Built node by node like the rest. */
  var sug = null;

  function field(form, key, kind, attrs) {
    var t = P.config.text, wrap = el("label", "pm-suggest-field");
    wrap.appendChild(el("span", null, t["sg_" + key]));
    var input = el(kind);
    input.name = key;
    Object.keys(attrs || {}).forEach(function (k) { input.setAttribute(k, attrs[k]); });
    wrap.appendChild(input);
    form.appendChild(wrap);
    return input;
  }

  function suggestForm() {
    var t = P.config.text, box = el("section", "pm-suggest");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", t.suggest);
    box.hidden = true;
    var head = el("h2", null, t.suggest);
    var name = el("div", "pm-suggest-place");
    var help = el("p", "pm-suggest-help", t.sg_help);
    var form = el("form");
    form.noValidate = true;
    var findRow = el("div", "pm-suggest-find");
    var address = field(findRow, "address", "input", {type: "text", maxlength: "200",
                                                      placeholder: t.sg_address_example});
    var find = el("button", null, t.sg_find);
    find.type = "button";
    findRow.appendChild(find);
    form.appendChild(findRow);
    var where = el("p", "pm-suggest-where", t.sg_nowhere);
    form.appendChild(where);
    var precision = field(form, "precision", "select");
    ["building", "street"].forEach(function (v) {
      var o = el("option", null, t["sg_precision_" + v]);
      o.value = v;
      precision.appendChild(o);
    });
    var url = field(form, "source_url", "input", {type: "url", maxlength: "500",
                                                  placeholder: "https://"});
    var quote = field(form, "quote", "textarea", {rows: "3", maxlength: "2000"});
    var note = field(form, "note", "textarea", {rows: "2", maxlength: "2000"});
    var contact = field(form, "contact", "input", {type: "text", maxlength: "200"});
    var status = el("p", "pm-suggest-status");
    status.setAttribute("aria-live", "polite");
    var send = el("button", "pm-suggest-send", t.sg_send);
    send.type = "submit";
    var cancel = el("button", "pm-suggest-cancel", t.sg_close);
    cancel.type = "button";
    var buttons = el("div", "pm-suggest-buttons");
    buttons.appendChild(send);
    buttons.appendChild(cancel);
    form.appendChild(buttons);
    form.appendChild(status);
    [head, name, help, form].forEach(function (n) { box.appendChild(n); });
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    P.map.getContainer().appendChild(box);

    var s = {box: box, name: name, where: where, status: status, send: send, form: form,
             fields: {address: address, precision: precision, source_url: url, quote: quote,
                      note: note, contact: contact},
             point: null, marker: null, place: null};

    function setPoint(lat, lng, datum, basis) {
      s.point = {lat: lat, lng: lng, datum: datum};
      var off = P.config.viewOffset || [0, 0];  // on GCJ-02 tiles the map is shifted
      var shown = datum === P.config.suggest.datum ? [lat, lng] : [lat + off[0], lng + off[1]];
      if (s.marker) s.marker.setLatLng(shown);
      else s.marker = L.circleMarker(shown, {radius: 9, color: "#b71c1c", weight: 3,
                                             fillColor: "#e53935", fillOpacity: .8}).addTo(P.map);
      where.textContent = t.sg_point.replace("{lat}", lat.toFixed(6)).replace("{lng}", lng.toFixed(6))
        .replace("{datum}", datum) + (basis ? " — " + basis : "");
    }

    // A click anywhere on the map (features included: a DOM listener, as Leaflet's map
    // "click" skips clicks on features) sets the point while the form is open.
    P.map.getContainer().addEventListener("click", function (e) {
      if (box.hidden || box.contains(e.target) || e.target.closest(".leaflet-control")) return;
      if (P.map.dragging && P.map.dragging.moved()) return;  // the end of a pan, not a pick
      e.stopPropagation();  // picking a point: no feature popup opens under it
      var ll = P.map.mouseEventToLatLng(e);
      setPoint(ll.lat, ll.lng, P.config.suggest.datum, "");
    }, true);

    find.addEventListener("click", function () {
      status.textContent = "";
      var q = address.value.trim();
      if (!q) { status.textContent = t.sg_need_address; return; }
      fetch(P.config.suggest.geocode + "?address=" + encodeURIComponent(q))
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (res) {
          if (!res.ok) { status.textContent = res.body.error || t.sg_failed; return; }
          setPoint(res.body.lat, res.body.lon, res.body.datum, res.body.basis);
          precision.value = res.body.precision;
          var off = P.config.viewOffset || [0, 0];
          P.map.setView([res.body.lat + off[0], res.body.lon + off[1]], Math.max(P.map.getZoom(), 16));
        })
        .catch(function () { status.textContent = t.sg_failed; });
    });

    cancel.addEventListener("click", function () { P.suggestClose(); });

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      status.textContent = "";
      if (!s.point) { status.textContent = t.sg_need_point; return; }
      if (!url.value.trim() && !quote.value.trim()) { status.textContent = t.sg_need_source; return; }
      var body = {lon: s.point.lng, lat: s.point.lat, datum: s.point.datum};
      Object.keys(s.fields).forEach(function (k) {
        var v = s.fields[k].value.trim();
        if (v) body[k] = v;
      });
      send.disabled = true;
      fetch(P.config.suggest.url.replace("{id}", encodeURIComponent(s.place)), {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
      }).then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); })
        .then(function (res) {
          send.disabled = false;
          if (!res.ok) { status.textContent = res.body.error || t.sg_failed; return; }
          status.textContent = t.sg_thanks.replace("{id}", res.body.id);
          box.setAttribute("data-pm-sent", res.body.id);
          form.reset();
        })
        .catch(function () { send.disabled = false; status.textContent = t.sg_failed; });
    });
    return s;
  }

  P.suggest = function (id) {
    if (!P.config || !P.config.suggest || !P.map) return false;
    if (!sug) sug = suggestForm();
    var rec = P.features[id];
    var n = rec ? names(rec.feature.properties) : [id];
    sug.place = id;
    sug.point = null;
    if (sug.marker) { P.map.removeLayer(sug.marker); sug.marker = null; }
    sug.name.textContent = n[0] + (n[1] ? " · " + n[1] : "");
    sug.where.textContent = P.config.text.sg_nowhere;
    sug.status.textContent = "";
    sug.box.removeAttribute("data-pm-sent");
    sug.box.hidden = false;
    sug.fields.address.focus();
    return true;
  };

  P.suggestClose = function () {
    if (!sug) return;
    sug.box.hidden = true;
    if (sug.marker) { P.map.removeLayer(sug.marker); sug.marker = null; }
  };

  /* Parks side panel (map page): built from the parks layer once it has loaded; filter by
     district, zone, subdistrict and theme; rows rendered a page at a time as the list
     scrolls (a hundred thousand parks are not a hundred thousand list items); click to
     focus; "suggest" opens the suggestion form for that place. */
  var PAGE = 100;

  function option(value, text) {
    var o = el("option", null, text);
    o.value = value;
    return o;
  }

  function parkRow(p, located) {
    var t = P.config.text, n = names(p), li = el("li", located ? "pm-located" : "pm-unlocated");
    var b = el("button", null, n[0]);
    b.type = "button";
    b.setAttribute("data-id", p.id);
    if (!located) b.disabled = true;
    li.appendChild(b);
    if (n[1]) li.appendChild(el("span", "pm-alt", " " + n[1]));
    if (!located) li.appendChild(el("span", "pm-badge", t.unlocated));
    var within = P.config.lang === "en" ? (p.within_en || p.within_zh) : (p.within_zh || p.within_en);
    var sub = P.config.lang === "en" ? (p.subdistrict_en || p.subdistrict) : (p.subdistrict || p.subdistrict_en);
    if (p.confidence === "area" && within) li.appendChild(el("div", "pm-where", t.somewhere_short.replace("{area}", within)));
    else if (sub) li.appendChild(el("div", "pm-where", sub));
    if (P.config.suggest && (p.confidence === "area" || p.confidence === "unlocated")) {
      var sb = el("button", "pm-suggest-open", t.suggest);
      sb.type = "button";
      sb.setAttribute("data-suggest", p.id);
      li.appendChild(sb);
    }
    return li;
  }

  function panel() {
    var list = document.getElementById("pm-parks");
    if (!list) return;
    var selects = Array.prototype.slice.call(document.querySelectorAll("[data-pm-filter]"));
    var count = document.getElementById("pm-parks-count");
    var rows = [], matches = [], drawn = 0;
    var sentinel = el("div", "pm-more");  // scrolled into view: the next rows
    list.parentNode.insertBefore(sentinel, list.nextSibling);
    var more = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) page();
    }, {root: list.closest(".pm-panel") || null});

    function page() {  // the next rows of the current selection
      var end = Math.min(matches.length, drawn + PAGE), frag = document.createDocumentFragment();
      for (; drawn < end; drawn++) frag.appendChild(parkRow(matches[drawn].p, matches[drawn].located));
      list.appendChild(frag);
      sentinel.hidden = drawn >= matches.length;
    }

    function apply() {
      var want = {};
      selects.forEach(function (s) { want[s.getAttribute("data-pm-filter")] = s.value; });
      matches = rows.filter(function (r) {
        var p = r.p;
        return (!want.district || p.district === want.district) && (!want.zone || p.zone === want.zone) &&
               (!want.subdistrict || p.subdistrict === want.subdistrict) &&
               (!want.theme || (p.themes || []).indexOf(want.theme) >= 0);
      });
      list.textContent = "";
      drawn = 0;
      page();
      if (count) count.textContent = String(matches.length);
    }

    function fill(doc) {
      var values = {district: {}, zone: {}, subdistrict: {}, theme: {}};
      rows = (doc.features || []).map(function (f) {
        var p = f.properties || {};
        if (p.district) values.district[p.district] = label("district", p.district);
        if (p.zone) values.zone[p.zone] = label("zone", p.zone);
        if (p.subdistrict) values.subdistrict[p.subdistrict] = P.config.lang === "en" ? (p.subdistrict_en || p.subdistrict) : p.subdistrict;
        (p.themes || []).forEach(function (t) { values.theme[t] = label("theme", t); });
        return {p: p, located: !!f.geometry, name: names(p)[0] || ""};
      });
      rows.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
      selects.forEach(function (s) {
        var key = s.getAttribute("data-pm-filter"), table = values[key] || {};
        Object.keys(table).sort().forEach(function (v) { s.appendChild(option(v, table[v])); });
      });
      apply();
      more.observe(sentinel);
    }

    selects.forEach(function (s) { s.addEventListener("change", apply); });
    list.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-id]");
      if (b) P.focus(b.getAttribute("data-id"));
      var sb = e.target.closest("button[data-suggest]");
      if (sb) P.suggest(sb.getAttribute("data-suggest"));
    });
    var copy = document.getElementById("pm-copy-snippet");
    if (copy) copy.addEventListener("click", function () {
      var box = document.getElementById("pm-embed-snippet");
      box.select();
      if (navigator.clipboard) navigator.clipboard.writeText(box.value).catch(function () {});
    });
    // the map is drawn first, the list just after (a task of its own)
    var later = function (doc) { setTimeout(function () { fill(doc); }, 0); };
    if (P.data.parks) later(P.data.parks);
    else {
      P.onData.parks = later;
      if (P.layers.parks) P.layers.parks.pmLoad();  // listed even while not drawn
    }
  }

  /* Language and basemap links keep the current view and layers (a[data-pm-set="key=value"]). */
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-pm-set]");
    if (!a) return;
    var kv = a.getAttribute("data-pm-set").split("="), params = new URLSearchParams(window.location.search);
    params.set(kv[0], kv[1]);
    e.preventDefault();
    window.location.search = params.toString();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", panel);
  else panel();
})();
