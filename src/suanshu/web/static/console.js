// Suanshu console: charts from JSON data islands (Apache ECharts when vendored) and upload progress.
// Everything works without this file: tables carry the numbers, forms post normally.
(function () {
  "use strict";

  function drawCharts(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var island = document.getElementById(el.dataset.chart);
      if (!island) return;
      if (!window.echarts) {  // the page already says charts are off; keep the table
        el.hidden = true;
        return;
      }
      var spec = JSON.parse(island.textContent);
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      var series = spec.series.map(function (s) {
        var out = { name: s.name, type: spec.type || "bar", data: s.data };
        if (spec.type === "line") out.smooth = true;
        if (spec.stack) out.stack = spec.stack;
        return out;
      });
      var option = {
        animation: false,
        tooltip: { trigger: spec.type === "pie" ? "item" : "axis" },
        legend: { top: 0, type: "scroll" },
        grid: { left: 8, right: 16, bottom: 8, top: 36, containLabel: true },
        series: series,
      };
      if (spec.type === "pie") {
        series.forEach(function (s) { s.radius = ["35%", "65%"]; s.data = spec.x.map(function (x, i) { return { name: x, value: s.data[i] }; }); });
      } else {
        option.xAxis = { type: "category", data: spec.x, axisLabel: { hideOverlap: true } };
        option.yAxis = { type: "value" };
      }
      chart.setOption(option);
      el.dataset.drawn = "1";
      el.setAttribute("role", "img");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  function wireUploads(root) {
    root.querySelectorAll("form[data-upload]").forEach(function (form) {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      form.addEventListener("submit", function (ev) {
        if (!window.XMLHttpRequest || !window.FormData) return;  // plain post
        ev.preventDefault();
        var bar = form.querySelector("progress");
        var status = form.querySelector("[data-upload-status]");
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.upload.addEventListener("progress", function (e) {
          if (!e.lengthComputable) return;
          bar.hidden = false;
          bar.value = Math.round((100 * e.loaded) / e.total);
          status.textContent = status.dataset.sending.replace("{pct}", bar.value);
        });
        xhr.upload.addEventListener("load", function () {
          status.textContent = status.dataset.scanning;
        });
        xhr.addEventListener("load", function () {
          // success: the server redirected to the scan report; go there
          if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
          // refusal: show the form page the server answered with, error explained
          document.open();
          document.write(xhr.responseText);
          document.close();
        });
        xhr.addEventListener("error", function () { status.textContent = status.dataset.failed; });
        form.querySelector("button[type=submit]").disabled = true;
        xhr.send(new FormData(form));
      });
    });
  }

  function init(root) { drawCharts(root); wireUploads(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
})();
