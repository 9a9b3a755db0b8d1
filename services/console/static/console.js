// Progressive enhancement only: every form works without this file.
// 1. Fields with data-check="id_number|mobile" are checked as you type against the
//    console's /check endpoint (the same rules the API applies).
// 2. Pages with <body data-live> reload their main content when a case in view changes
//    (server-sent events from /events), keeping focus and scroll.
(function () {
  "use strict";
  function debounce(fn, ms) { var t; return function () { var a = arguments, s = this; clearTimeout(t); t = setTimeout(function () { fn.apply(s, a); }, ms); }; }

  document.querySelectorAll("[data-check]").forEach(function (input) {
    var out = document.getElementById(input.id + "-error");
    var check = debounce(function () {
      if (!input.value) { if (out) out.textContent = ""; input.removeAttribute("aria-invalid"); return; }
      fetch("/check/" + input.getAttribute("data-check"), {
        method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "_csrf=" + encodeURIComponent(document.querySelector("input[name=_csrf]").value) + "&value=" + encodeURIComponent(input.value),
        credentials: "same-origin"
      }).then(function (r) { return r.json(); }).then(function (j) {
        if (out) out.textContent = j.ok ? "" : j.message;
        if (j.ok) input.removeAttribute("aria-invalid"); else input.setAttribute("aria-invalid", "true");
      }).catch(function () {});
    }, 250);
    input.addEventListener("input", check);
    input.addEventListener("blur", check);
  });

  if (document.body.hasAttribute("data-live") && window.EventSource) {
    var reload = debounce(function () {
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var old = document.getElementById("live");
        if (fresh && old) { old.replaceWith(fresh); document.body.setAttribute("data-refreshed", String(Date.now())); }
      }).catch(function () {});
    }, 200);
    var es = null;
    function listen() { es = new EventSource("/events"); es.addEventListener("case", reload); }
    listen();
    // A page kept in the back/forward cache keeps its stream open otherwise: after six live
    // pages Chrome has no connection left for this host and the next page waits a minute.
    window.addEventListener("pagehide", function () { if (es) { es.close(); es = null; } });
    window.addEventListener("pageshow", function (e) { if (e.persisted && !es) { listen(); reload(); } });
  }
})();
