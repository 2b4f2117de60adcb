// syncd console: draws the charts of a page from its JSON block (#chart-data); no inline script (the CSP forbids it)
(function () {
  "use strict";
  var block = document.getElementById("chart-data");
  if (!block || typeof echarts === "undefined") { return; }
  var data = JSON.parse(block.textContent || "{}");
  var charts = [];
  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option);
    charts.push(chart);
  }
  function stacked(spec) {
    return {
      tooltip: { trigger: "axis" }, legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 8, bottom: 36, containLabel: true },
      xAxis: { type: "category", data: spec.categories }, yAxis: { type: "value", minInterval: 1 },
      series: spec.series.map(function (s) { return { name: s.name, type: "bar", stack: "all", data: s.data }; })
    };
  }
  if (data.funnel) {
    draw("chart-funnel", {
      tooltip: { trigger: "item" },
      series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "10%", gap: 2,
                 label: { show: true, position: "inside", formatter: "{b} {c}" }, data: data.funnel }]
    });
  }
  if (data.shops) { draw("chart-shops", stacked(data.shops)); }
  if (data.carriers) { draw("chart-carriers", stacked(data.carriers)); }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
}());
