/* Host page: size each parkmap iframe to the height its embed page reports (embed-height.js).
   Add once per page: <script src=".../static/embed-resize.js" async></script>. A message
   is trusted only from the window of one of this page's iframes, and only from the origin its
   src names; the height is clamped to a sane range. */
(function () {
  "use strict";
  if (window.parkmapEmbedResize) return;  // included twice: one listener is enough
  window.parkmapEmbedResize = true;
  var MIN = 120, MAX = 4000;

  function frameFor(source) {
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === source) return frames[i];
    }
    return null;
  }

  function originOf(frame) {
    try { return new URL(frame.src, document.baseURI).origin; } catch (err) { return null; }
  }

  window.addEventListener("message", function (e) {
    var d = e.data;
    if (!d || d.type !== "parkmap:height" || typeof d.height !== "number" || !isFinite(d.height)) return;
    var frame = frameFor(e.source);
    if (!frame || originOf(frame) !== e.origin) return;
    var h = Math.round(Math.min(MAX, Math.max(MIN, d.height)));
    frame.style.height = h + "px";
    frame.setAttribute("data-pm-height", String(h));
  });

  /* Embeds that loaded before this script: ask them to report again. */
  function ask() {
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      var origin = originOf(frames[i]);
      if (frames[i].contentWindow && origin && origin !== "null") {
        frames[i].contentWindow.postMessage({type: "parkmap:height-request"}, origin);
      }
    }
  }
  if (document.readyState === "complete") ask();
  else window.addEventListener("load", ask);
})();
