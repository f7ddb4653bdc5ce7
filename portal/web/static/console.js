/* Console page behaviour that every page shares (no inline scripts: the CSP forbids them). */
(function () {
  "use strict";
  // Forms that destroy something ask first.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });
  // Every console time is shown in the operator's configured zone (<body data-tz>, the zone of
  // the charts and reports), never the browser's, and says which: "2026-12-07 20:15:03 UTC+8".
  var tz = document.body.getAttribute("data-tz") || "UTC";
  var tzLabel = document.body.getAttribute("data-tz-label") || "";
  function when(ms, withDate) {
    var p = {};
    var opts = {timeZone: tz, hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit",
                timeZoneName: "shortOffset"};
    if (withDate) { opts.year = "numeric"; opts.month = "2-digit"; opts.day = "2-digit"; }
    new Intl.DateTimeFormat("en-GB", opts).formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = x.value; });
    // "GMT+8" for that instant (DST-aware); the server's label if the browser lacks shortOffset.
    var label = p.timeZoneName ? p.timeZoneName.replace(/^GMT/, "UTC") : tzLabel;
    var time = p.hour + ":" + p.minute + ":" + p.second + " " + label;
    return withDate ? p.year + "-" + p.month + "-" + p.day + " " + time : time;
  }
  // Epoch seconds in <... data-epoch="..."> (filled in by scripts) become date-times in that zone.
  function stamp(root) {
    (root || document).querySelectorAll("[data-epoch]").forEach(function (el) {
      var t = parseFloat(el.getAttribute("data-epoch"));
      if (t > 0) { el.textContent = when(t * 1000, true); el.title = tz; }
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
    stamp: stamp,
    when: when          /* when(ms, withDate): a time in the console's zone, labelled */
  };
  document.addEventListener("DOMContentLoaded", function () { stamp(document); });
})();
