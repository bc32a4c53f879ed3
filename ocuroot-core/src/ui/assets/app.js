// Live updates: the server sends `data: reload` when the store branches move (state view)
// or the package file changes (preview); the page then reloads itself. No other script.
//
// A browser opens at most six connections to one host, so a page in the background (a
// hidden tab, the back-forward cache) closes its stream and opens it again when shown; the
// state view's stream then names the version the page shows (`since`), and the server
// says `reload` at once if the stores moved meanwhile.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-live");
  var badge = document.getElementById("live");
  var es = null;
  function show(on, text) {
    if (badge) { badge.className = on ? "live on" : "live off"; badge.textContent = text; }
  }
  function open() {
    if (es || document.visibilityState === "hidden") { return; }
    es = new EventSource(url);
    es.onopen = function () { show(true, "live"); };
    es.onerror = function () { show(false, "reconnecting"); };
    es.onmessage = function (e) {
      if (e.data === "reload") { close(); window.location.reload(); }
    };
  }
  function close() {
    if (es) { es.close(); es = null; }
    show(false, "paused");
  }
  if (!url || !window.EventSource) { show(false, "not live"); return; }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { close(); } else { open(); }
  });
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", open);
  open();
})();
