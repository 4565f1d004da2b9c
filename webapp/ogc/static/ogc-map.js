/* The map of an /ogc items or feature page: draws the GeoJSON at the map element's data-url
   (this page's features, as JSON) with Leaflet from the app's own bundle. No basemap tiles:
   the page works offline and loads nothing from another host. */
(function () {
  "use strict";
  var el = document.getElementById("ogc-map");
  if (!el || !window.L) { return; }
  var map = L.map(el, { attributionControl: false });
  map.setView([31.23, 121.44], 11);
  var style = { color: "#1f5fa8", weight: 2, fillOpacity: 0.2 };
  fetch(el.getAttribute("data-url"), { headers: { Accept: "application/geo+json" } })
    .then(function (r) { return r.json(); })
    .then(function (doc) {
      var layer = L.geoJSON(doc, {
        style: style,
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, { radius: 6, color: "#1f5fa8", weight: 2, fillOpacity: 0.7 });
        },
        onEachFeature: function (f, lyr) {
          var p = f.properties || {};
          var label = document.createElement("span");
          label.textContent = (p.name_zh || f.id || "") + (p.name_en ? " · " + p.name_en : "");
          lyr.bindTooltip(label);
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 16, padding: [12, 12] }); }
    })
    .catch(function () { el.textContent = ""; });
})();
