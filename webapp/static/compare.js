/* parkmap compare page: two maps (each in its own iframe document) whose views stay in step.
 *
 * ParkmapCompare.pane(side)  in each map document: reports its view to the page on every
 *                            move, and applies the views the page relays from the other side.
 * ParkmapCompare.page(text)  in the page: relays views between the panes, keeps ?view= and the
 *                            embed snippet current, handles draft upload and delete. The edit
 *                            token an upload answers with is kept in this browser
 *                            (localStorage), so it can delete the drafts it made, and only those.
 *
 * Messages: {pm: "view", side, lat, lng, zoom} pane -> page; {pm: "set", lat, lng, zoom}
 * page -> pane; {pm: "ready", side} pane -> page once its layers have loaded.
 */
(function () {
  "use strict";
  var C = window.ParkmapCompare = {};

  function key(lat, lng, zoom) { return lat.toFixed(6) + "," + lng.toFixed(6) + "," + zoom; }

  C.pane = function (side) {
    var map = window.Parkmap && window.Parkmap.map;
    if (!map || window.parent === window) return;
    var applying = false;  // a view from the other side is being applied: do not echo it back
    map.on("moveend", function () {
      if (applying) return;
      var c = map.getCenter();
      window.parent.postMessage({pm: "view", side: side, lat: c.lat, lng: c.lng, zoom: map.getZoom()}, "*");
    });
    window.addEventListener("message", function (e) {
      var m = e.data;
      if (e.source !== window.parent || !m || m.pm !== "set") return;
      var c = map.getCenter();
      if (key(c.lat, c.lng, map.getZoom()) === key(m.lat, m.lng, m.zoom)) return;
      applying = true;  // setView without animation fires moveend before it returns
      try { map.setView([m.lat, m.lng], m.zoom, {animate: false}); } finally { applying = false; }
    });
    Promise.resolve(window.Parkmap.ready).then(function () {
      window.parent.postMessage({pm: "ready", side: side}, "*");
    });
  };

  function frames() {
    return {left: document.getElementById("pmc-frame-left"), right: document.getElementById("pmc-frame-right")};
  }

  function syncUrl(m) {
    if (!window.history || !window.history.replaceState || location.protocol === "file:") return;
    var params = new URLSearchParams(location.search);
    params.set("view", m.lat.toFixed(5) + "," + m.lng.toFixed(5) + "," + m.zoom);
    history.replaceState(null, "", "?" + params.toString());
    var box = document.getElementById("pmc-embed-snippet");
    if (box) {
      var src = box.getAttribute("data-embed-base") + "&view=" + encodeURIComponent(params.get("view"));
      box.value = '<iframe src="' + src.replace(/&/g, "&amp;").replace(/"/g, "&quot;") +
        '" width="100%" height="560" style="border:0" loading="lazy"></iframe>';
    }
  }

  function relay() {
    var ready = {};
    window.addEventListener("message", function (e) {
      var m = e.data, f = frames();
      if (!m || typeof m.pm !== "string") return;
      var from = e.source === (f.left && f.left.contentWindow) ? "left"
        : e.source === (f.right && f.right.contentWindow) ? "right" : null;
      if (!from) return;
      if (m.pm === "ready") {
        ready[from] = true;
        if (ready.left && ready.right) document.documentElement.setAttribute("data-pmc-ready", "1");
        return;
      }
      if (m.pm !== "view") return;
      var other = f[from === "left" ? "right" : "left"];
      if (other && other.contentWindow) {
        other.contentWindow.postMessage({pm: "set", lat: m.lat, lng: m.lng, zoom: m.zoom}, "*");
      }
      syncUrl(m);
    });
  }

  function el(tag, text) { var e = document.createElement(tag); if (text) e.textContent = text; return e; }

  var TOKENS = "parkmap.draftTokens";  // {"draft:<id>": edit token} of the drafts made here

  function tokens() {
    try { return JSON.parse(window.localStorage.getItem(TOKENS) || "{}") || {}; } catch (e) { return {}; }
  }

  function keepToken(id, token) {
    var all = tokens();
    if (token) all[id] = token; else delete all[id];
    try { window.localStorage.setItem(TOKENS, JSON.stringify(all)); } catch (e) { /* private mode */ }
  }

  function upload(form, text) {
    var out = document.getElementById("pmc-upload-result");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      out.textContent = "";
      fetch(form.action, {method: "POST", body: new FormData(form), headers: {Accept: "application/json"}})
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (res) {
          if (res.ok) {
            keepToken(res.body.id, res.body.token);
            var side = form.elements.side.value, params = new URLSearchParams({
              left: form.getAttribute("data-left"), right: form.getAttribute("data-right"),
              lang: form.getAttribute("data-lang"), basemap: form.getAttribute("data-basemap")});
            params.set(side, res.body.id);
            location.assign(form.getAttribute("data-compare") + "?" + params.toString());
            return;
          }
          var p = el("p", res.body.error || String(res.body.status));
          p.className = "pmc-error";
          out.appendChild(p);
          if (res.body.problems && res.body.problems.length > 1) {
            var ul = el("ul");
            res.body.problems.forEach(function (s) { ul.appendChild(el("li", s)); });
            out.appendChild(ul);
          }
          if (res.body.repaired) {
            var a = el("a", (text && text.repaired) || "repaired.geojson");
            a.href = URL.createObjectURL(new Blob([JSON.stringify(res.body.repaired)], {type: "application/geo+json"}));
            a.download = "repaired.geojson";
            a.id = "pmc-repaired";
            out.appendChild(a);
          }
        })
        .catch(function (err) { out.appendChild(el("p", String(err))); });
    });
  }

  function deletes(text) {
    var list = document.getElementById("pmc-drafts"), mine = tokens();
    if (!list) return;
    Array.prototype.forEach.call(list.querySelectorAll("li[data-id]"), function (li) {
      var b = li.querySelector("button[data-delete]");
      if (!b) return;
      if (mine[li.getAttribute("data-id")]) b.hidden = false;
      else if (text && text.not_owner) li.appendChild(el("small", " " + text.not_owner));
    });
    list.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-delete]");
      if (!b) return;
      var id = b.closest("li").getAttribute("data-id");
      fetch(b.getAttribute("data-delete"), {method: "DELETE", headers: {
        Accept: "application/json", "X-Draft-Token": tokens()[id] || ""}})
        .then(function (r) {
          if (!r.ok) {  // say why (e.g. already deleted elsewhere) instead of doing nothing
            return r.json().then(function (body) { return body.error; }, function () { return String(r.status); })
              .then(function (msg) {
                var p = b.parentNode.querySelector(".pmc-error") || b.parentNode.appendChild(el("p"));
                p.className = "pmc-error";
                p.textContent = msg;
              });
          }
          keepToken(id, null);
          var params = new URLSearchParams(location.search);
          ["left", "right"].forEach(function (s) { if (params.get(s) === id) params.delete(s); });
          location.assign(location.pathname + "?" + params.toString());
        });
    });
  }

  /* Call from <head>: the relay must listen before the panes report. */
  C.page = function (text) {
    relay();
    function controls() {
      var form = document.getElementById("pmc-upload");
      if (form) upload(form, text);
      deletes(text);
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", controls);
    else controls();
  };
})();
