/* CityCharts: small inline-SVG line and bar charts for the consoles (no CDN: works offline).
 *   CityCharts.line(el, {labels: ["10:01", ...], series: [{name: "logins", values: [3, 5, ...]}]})
 *   CityCharts.bars(el, {labels: [...], series: [...]})          grouped bars
 * Calling again on the same element redraws it (dashboards refresh in place). */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = ["#0b6bcb", "#e67e22", "#1e8e3e", "#c0392b", "#8e44ad", "#16a085", "#7f8c8d"];
  var W = 640, H = 220, L = 44, R = 10, T = 10, B = 28;

  function node(tag, attrs, parent) {
    var n = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(n); }
    return n;
  }
  function nice(max) {
    if (max <= 0) { return 1; }
    var p = Math.pow(10, Math.floor(Math.log10(max))), m = max / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function frame(el, data) {
    el.textContent = "";
    el.classList.add("chart");
    var svg = node("svg", {viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img"}, el);
    var labels = data.labels || [], series = data.series || [];
    var max = 0;
    series.forEach(function (s) { (s.values || []).forEach(function (v) { max = Math.max(max, +v || 0); }); });
    var top = nice(max);
    for (var i = 0; i <= 4; i++) {
      var y = T + (H - T - B) * (1 - i / 4);
      node("line", {x1: L, x2: W - R, y1: y, y2: y, stroke: "#e3e7ec"}, svg);
      var t = node("text", {x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 10, fill: "#5f6b7a"}, svg);
      t.textContent = String(Math.round(top * i / 4 * 100) / 100);
    }
    var step = Math.max(1, Math.ceil(labels.length / 8));
    labels.forEach(function (lab, j) {
      if (j % step) { return; }
      var x = L + (W - L - R) * (labels.length > 1 ? j / (labels.length - 1) : 0.5);
      var t = node("text", {x: x, y: H - 8, "text-anchor": "middle", "font-size": 10, fill: "#5f6b7a"}, svg);
      t.textContent = String(lab);
    });
    var legend = document.createElement("div");
    legend.className = "legend";
    series.forEach(function (s, k) {
      var span = document.createElement("span");
      span.style.setProperty("--c", COLOURS[k % COLOURS.length]);
      span.textContent = s.name;
      legend.appendChild(span);
    });
    el.appendChild(legend);
    return {svg: svg, labels: labels, series: series, top: top};
  }
  function yOf(v, top) { return T + (H - T - B) * (1 - (+v || 0) / top); }

  window.CityCharts = {
    line: function (el, data) {
      var f = frame(el, data), n = f.labels.length;
      f.series.forEach(function (s, k) {
        var pts = (s.values || []).map(function (v, j) {
          var x = L + (W - L - R) * (n > 1 ? j / (n - 1) : 0.5);
          return x.toFixed(1) + "," + yOf(v, f.top).toFixed(1);
        });
        node("polyline", {points: pts.join(" "), fill: "none", stroke: COLOURS[k % COLOURS.length],
                          "stroke-width": 2, "data-series": s.name}, f.svg);
      });
      return el;
    },
    bars: function (el, data) {
      var f = frame(el, data), n = Math.max(1, f.labels.length), m = Math.max(1, f.series.length);
      var slot = (W - L - R) / n, bw = Math.max(1, slot * 0.8 / m);
      f.series.forEach(function (s, k) {
        (s.values || []).forEach(function (v, j) {
          var y = yOf(v, f.top);
          node("rect", {x: L + slot * j + slot * 0.1 + bw * k, y: y, width: bw, height: H - B - y,
                        fill: COLOURS[k % COLOURS.length], "data-series": s.name, "data-value": v}, f.svg);
        });
      });
      return el;
    }
  };
})();
