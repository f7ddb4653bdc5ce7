/* NOC live dashboard: fetch /noc/live.json every 5 s and redraw figures and charts in place.
 * No inline script (CSP): the URL and the translated series names come from data-attributes. */
(function () {
  "use strict";
  var status = document.getElementById("updated");
  if (!status) { return; }
  var url = status.getAttribute("data-live-url");
  var names = document.getElementById("series-names").dataset;
  function set(id, text) { var el = document.getElementById(id); if (el) { el.textContent = String(text); } }
  function sum(obj) { return Object.keys(obj).reduce(function (a, k) { return a + obj[k]; }, 0); }
  var reasons = JSON.parse(names.reasons || "{}");    // reject reason id → its name
  function keyed(obj, label, shown) {
    var keys = Object.keys(obj).sort();
    return {labels: keys.map(function (k) { return (shown && shown[k]) || k; }),
            series: [{name: label, values: keys.map(function (k) { return obj[k]; })}]};
  }
  function draw(s) {
    set("online-total", s.online.total);
    set("logins-last", s.logins.total[s.logins.total.length - 1]);
    set("logins-window", s.logins_window.total);
    set("codes-sent", s.codes_window.sent);
    set("codes-delivered", s.codes_window.delivered);
    set("codes-failed", s.codes_window.failed);
    set("sms-spend", (s.sms.spent_fen / 100).toFixed(2));
    set("sms-budget", s.sms.budget_fen ? "/ " + (s.sms.budget_fen / 100).toFixed(2) : "");
    set("rejects-window", sum(s.rejects_window));
    CityCharts.line(document.getElementById("chart-logins"), {labels: s.labels, series: [
      {name: names.sms, values: s.logins.sms}, {name: names.returning, values: s.logins.returning},
      {name: names.silent, values: s.logins.silent}]});
    CityCharts.line(document.getElementById("chart-codes"), {labels: s.labels, series: [
      {name: names.sent, values: s.codes.sent}, {name: names.delivered, values: s.codes.delivered},
      {name: names.failed, values: s.codes.failed}, {name: names.undelivered, values: s.codes.undelivered}]});
    CityCharts.bars(document.getElementById("chart-rejects"), keyed(s.rejects_window, names.rejects, reasons));
    CityCharts.bars(document.getElementById("chart-acs"), keyed(s.online.by_ac, names.online));
    CityCharts.bars(document.getElementById("chart-venues"), keyed(s.online.by_venue, names.online));
  }
  function refresh() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (s) {
        draw(s);
        status.textContent = status.getAttribute("data-updated") + " " + CityConsole.when(Date.now(), false);
        status.removeAttribute("data-error");
      })
      .catch(function () {
        status.textContent = status.getAttribute("data-failed");
        status.setAttribute("data-error", "1");
      })
      .then(function () { window.setTimeout(refresh, 5000); });
  }
  refresh();
}());
