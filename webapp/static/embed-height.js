/* parkmap embed page -> host page: report this page's content height with postMessage, so
   the host's embed-resize.js can size the iframe to fit (as Datawrapper's embeds do).
   Measures the element marked data-pm-embed (else <body>); posts on load, whenever its size
   changes, and when the host asks ({type: "parkmap:height-request"}). Sends a number only. */
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = -1;

  function content() {
    return document.querySelector("[data-pm-embed]") || document.body;
  }

  function height() {
    var el = content(), style = window.getComputedStyle(el);
    var margins = parseFloat(style.marginTop) + parseFloat(style.marginBottom);
    return Math.ceil(Math.max(el.getBoundingClientRect().height, el.scrollHeight) + margins);
  }

  function post(force) {
    var h = height();
    if (!h || (h === last && !force)) return;
    last = h;
    window.parent.postMessage({type: "parkmap:height", height: h, href: window.location.href}, "*");
  }

  window.addEventListener("message", function (e) {
    if (e.source === window.parent && e.data && e.data.type === "parkmap:height-request") post(true);
  });
  function start() {
    post(true);
    if (window.ResizeObserver) new ResizeObserver(function () { post(false); }).observe(content());
    window.addEventListener("resize", function () { post(false); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.addEventListener("load", function () { post(false); });
})();
