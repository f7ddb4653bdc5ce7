/* Console page behaviour that every page shares (no inline scripts: the CSP forbids them). */
(function () {
  "use strict";
  // Forms that destroy something ask first.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });
  // Epoch seconds in <... class="ts" data-epoch="..."> become local date-times.
  function stamp(root) {
    (root || document).querySelectorAll("[data-epoch]").forEach(function (el) {
      var t = parseFloat(el.getAttribute("data-epoch"));
      if (t > 0) { el.textContent = new Date(t * 1000).toLocaleString(); el.title = String(t); }
    });
  }
  window.CityConsole = {
    csrf: function () {
      var m = document.querySelector('meta[name="csrf-token"]');
      return m ? m.getAttribute("content") : "";
    },
    /* fetch() with the CSRF header and JSON handling. */
    send: function (method, url, body) {
      return fetch(url, {
        method: method, credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": window.CityConsole.csrf()},
        body: body === undefined ? undefined : JSON.stringify(body)
      }).then(function (r) { return r.json().then(function (j) { return {status: r.status, body: j}; }); });
    },
    stamp: stamp
  };
  document.addEventListener("DOMContentLoaded", function () { stamp(document); });
})();
