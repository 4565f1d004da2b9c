/* plan.js: the plan reader (/plan/<doc>, webapp/templates/plan.html).
 *
 * - A card for each mention (.pm-mention) on hover and keyboard focus: names, how precisely
 *   the place is located and on what basis, from the page's JSON block #pm-plan-cards.
 * - Split view (#pm-split-toggle): the map (/embed/<map>) in an iframe beside the text. There a
 *   click on a mention focuses the map (Parkmap.focus) instead of opening /map/<map>; the
 *   section in view is highlighted on the map (Parkmap.highlight, if the map has it); a
 *   feature clicked on the map ("parkmap:select" in the iframe's window) scrolls the text to
 *   its first mention.
 * Every value enters the DOM as text (textContent); no inline script (the CSP forbids it).
 */
(function () {
  "use strict";

  var doc = document;
  var cards = {};
  try {
    cards = JSON.parse((doc.getElementById("pm-plan-cards") || {}).textContent || "{}");
  } catch (e) { cards = {}; }
  var card = doc.getElementById("pm-card");
  var toggle = doc.getElementById("pm-split-toggle");
  var aside = doc.getElementById("pm-plan-map");
  var iframe = doc.getElementById("pm-plan-iframe");
  var shownFor = null, split = false, mapWin = null, lastIds = null, scrollTimer = null;
  var selfSelect = null;  // a feature this page asked the map to open (no scrolling back to it)
  var BASIS_MAX = 320;  // characters of the basis a card shows (the map popup has it all)

  function mentionOf(node) {
    return node && node.closest ? node.closest(".pm-mention[data-id], .pm-mention[data-unmapped]") : null;
  }

  function line(parent, cls, text, lang) {
    var el = doc.createElement("p");
    el.className = cls;
    el.textContent = text;
    if (lang) el.setAttribute("lang", lang);
    parent.appendChild(el);
    return el;
  }

  function fillCard(m) {
    card.textContent = "";
    var id = m.getAttribute("data-id"), c = id && cards[id];
    if (c) {
      line(card, "pm-card-name", c.name_zh, "zh-CN");
      line(card, "pm-card-en", c.name_en, "en");
      line(card, "pm-card-conf", c.kind_zh + " " + c.kind_en + " · 位置 " + c.confidence_zh +
           " / location: " + c.confidence_en);
      var basis = String(c.basis || "");
      if (basis.length > BASIS_MAX) basis = basis.slice(0, BASIS_MAX) + "…";
      if (basis) line(card, "pm-card-basis", basis);
      line(card, "pm-card-hint", c.located
        ? (split ? "点击在旁边的地图上显示 / click: show on the map beside"
                 : "点击打开地图 / click: open the map")
        : "未定位，地图上只列出不标注 / unlocated: listed, not drawn on the map");
    } else {
      line(card, "pm-card-name", m.textContent, "zh-CN");
      line(card, "pm-card-en", m.getAttribute("data-unmapped") || "", "en");
      line(card, "pm-card-hint", "地图上没有这个地点 / not on the map");
    }
  }

  function showCard(m) {
    if (!card) return;
    fillCard(m);
    card.hidden = false;
    var r = m.getBoundingClientRect(), w = card.offsetWidth, h = card.offsetHeight;
    var left = Math.max(4, Math.min(r.left, window.innerWidth - w - 4));
    var top = r.bottom + 6;
    if (top + h > window.innerHeight - 4) top = Math.max(4, r.top - h - 6);
    card.style.left = left + "px";
    card.style.top = top + "px";
    m.setAttribute("aria-describedby", "pm-card");
    shownFor = m;
  }

  function hideCard() {
    if (!card || card.hidden) return;
    card.hidden = true;
    if (shownFor) shownFor.removeAttribute("aria-describedby");
    shownFor = null;
  }

  doc.addEventListener("mouseover", function (e) {
    var m = mentionOf(e.target);
    if (m && m !== shownFor) showCard(m);
  });
  doc.addEventListener("mouseout", function (e) {
    var m = mentionOf(e.target);
    if (!m || m.contains(e.relatedTarget)) return;
    var focused = mentionOf(doc.activeElement);  // the keyboard's mention keeps its card
    if (focused) { if (focused !== shownFor) showCard(focused); } else hideCard();
  });
  doc.addEventListener("focusin", function (e) {
    var m = mentionOf(e.target);
    if (m) showCard(m); else hideCard();
  });
  doc.addEventListener("focusout", function (e) {
    if (mentionOf(e.target)) hideCard();
  });
  doc.addEventListener("keydown", function (e) {
    if (e.key === "Escape") hideCard();
  });
  window.addEventListener("resize", hideCard);

  /* --- the map beside the text ----------------------------------------------------------- */

  function parkmap() {
    try {
      return mapWin && mapWin.Parkmap ? mapWin.Parkmap : null;
    } catch (e) { return null; }  // not same-origin after all: leave the map alone
  }

  function whenReady(P, fn) {
    if (P.ready && typeof P.ready.then === "function") P.ready.then(fn, fn);
    else fn();
  }

  doc.addEventListener("click", function (e) {
    var m = mentionOf(e.target);
    if (!m) return;
    if (m.tagName === "BUTTON") {  // unlocated, or not on the map: its card is all there is
      showCard(m);
      return;
    }
    var P = parkmap();
    if (!split || !P || typeof P.focus !== "function" || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    var id = m.getAttribute("data-id"), href = m.getAttribute("href");
    whenReady(P, function () {
      selfSelect = id;  // the map will announce this feature: the text is already there
      if (!P.focus(id)) { selfSelect = null; window.location.href = href; }  // not on this map
    });
  });

  function scrollToMention(id) {
    var all = doc.querySelectorAll(".pm-mention[data-id]"), m = null;
    for (var i = 0; i < all.length && !m; i++) if (all[i].getAttribute("data-id") === id) m = all[i];
    if (!m) return false;
    m.scrollIntoView({block: "center"});
    m.classList.add("pm-flash");
    setTimeout(function () { m.classList.remove("pm-flash"); }, 1600);
    return true;
  }

  /* The mentioned features of the chapter(section) at the top of the text. */
  function sectionIds() {
    var blocks = doc.querySelectorAll(".pm-plan-text [data-sec]"), sec = null;
    for (var i = 0; i < blocks.length; i++) {
      if (blocks[i].getBoundingClientRect().bottom > 80) { sec = blocks[i].getAttribute("data-sec"); break; }
    }
    var ids = [];
    if (sec === null) return ids;
    for (var j = 0; j < blocks.length; j++) {
      if (blocks[j].getAttribute("data-sec") !== sec) continue;
      var ms = blocks[j].querySelectorAll(".pm-linked[data-id]");
      for (var k = 0; k < ms.length; k++) {
        var id = ms[k].getAttribute("data-id");
        if (ids.indexOf(id) < 0) ids.push(id);
      }
    }
    return ids;
  }

  function highlightSection() {
    var P = parkmap();
    if (!split || !P || typeof P.highlight !== "function") return;
    var ids = sectionIds(), key = ids.join("\n");
    if (key === lastIds) return;
    lastIds = key;
    whenReady(P, function () { P.highlight(ids); });
  }

  window.addEventListener("scroll", function () {
    if (!split || scrollTimer) return;
    scrollTimer = setTimeout(function () { scrollTimer = null; highlightSection(); }, 150);
  }, {passive: true});

  /* An embed keeps a 4:3 map (class pm-embed-fit, for other sites' pages); beside the text
     it fills the frame's height instead, as the compare panes do. */
  function fillFrame() {
    var body = mapWin.document.body;
    if (!body || !body.classList.contains("pm-embed-fit")) return;
    body.classList.remove("pm-embed-fit");
    var P = parkmap();
    if (P) whenReady(P, function () { if (P.map) P.map.invalidateSize(); });
  }

  if (iframe) {
    iframe.addEventListener("load", function () {
      try {
        mapWin = iframe.contentWindow;
        mapWin.addEventListener("parkmap:select", function (e) {
          var id = e.detail && e.detail.id ? String(e.detail.id) : null;
          if (id && id === selfSelect) selfSelect = null;
          else if (id) scrollToMention(id);
        });
        fillFrame();
      } catch (err) { mapWin = null; }
      lastIds = null;
      highlightSection();
    });
  }

  function setSplit(on) {
    split = on;
    doc.body.classList.toggle("pm-split", on);
    if (aside) aside.hidden = !on;
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    if (on && iframe && !iframe.getAttribute("src")) iframe.setAttribute("src", iframe.getAttribute("data-src"));
    lastIds = null;
    if (on) highlightSection();
    hideCard();
  }

  if (toggle) toggle.addEventListener("click", function () { setSplit(!split); });

  window.PlanReader = {setSplit: setSplit, scrollToMention: scrollToMention, sectionIds: sectionIds};
  doc.documentElement.setAttribute("data-pm-ready", "1");
})();
