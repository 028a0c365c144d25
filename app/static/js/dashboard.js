// The regulator's charts (vendored ECharts): fills, blocked fills and deliveries per day,
// and blocked fills by reason. The data comes from /regulator/charts.json.
(function () {
  "use strict";
  var daily = document.getElementById("chart-daily");
  var reasons = document.getElementById("chart-reasons");
  if (!daily || !window.echarts) { return; }
  fetch(daily.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    var lines = echarts.init(daily);
    var kinds = Object.keys(data.series);
    lines.setOption({
      animation: false,
      title: { text: daily.dataset.title, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis" },
      legend: { top: 30, data: kinds.map(function (k) { return data.labels[k]; }) },
      grid: { top: 70, left: 40, right: 16, bottom: 30 },
      xAxis: { type: "category", data: data.days },
      yAxis: { type: "value", minInterval: 1 },
      series: kinds.map(function (k) { return { name: data.labels[k], type: k === "fill_blocked" ? "bar" : "line", data: data.series[k] }; })
    });
    var pie = echarts.init(reasons);
    pie.setOption({
      animation: false,
      title: { text: reasons.dataset.title, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "item" },
      legend: { type: "scroll", bottom: 0 },
      series: [{ type: "pie", radius: ["30%", "60%"], top: 20, bottom: 40, label: { show: false },
                 data: data.by_reason }]
    });
    daily.dataset.ready = "1";
    window.addEventListener("resize", function () { lines.resize(); pie.resize(); });
  });
}());
