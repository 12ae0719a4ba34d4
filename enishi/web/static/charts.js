// Draws every <div data-chart="ID"> from the plotly figure JSON in <script type="application/json" id="ID">.
// Pages keep their data in JSON script tags because the Content-Security-Policy forbids inline scripts.
(function () {
  function draw() {
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var source = document.getElementById(element.dataset.chart);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      var layout = Object.assign({ margin: { t: 24, r: 16, b: 40, l: 48 }, font: { family: "inherit" } }, figure.layout || {});
      window.Plotly.newPlot(element, figure.data || [], layout, Object.assign({ displaylogo: false, responsive: true }, figure.config || {}));
      element.dataset.drawn = "true";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
