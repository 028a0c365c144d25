// The regulator's charts (vendored ECharts): fills, blocked fills and deliveries per day,
// and blocked fills by reason (the period of the reasons table beside it). The data comes
// from /regulator/charts.json.
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
    // Every reason is named beside its colour, with its count: a plain legend in one column
    // right of the donut, the chart as tall as the list needs (a scrolling legend cut the
    // last entry it showed down to its colour). Drawn as SVG, so the names are text.
    var count = {};
    data.by_reason.forEach(function (d) { count[d.name] = d.value; });
    reasons.style.height = Math.max(320, 60 + 22 * data.by_reason.length) + "px";
    var pie = echarts.init(reasons, null, { renderer: "svg" });
    pie.setOption({
      animation: false,
      // 20 colours (Tableau 20): ECharts' own 9 repeat, and there are more reasons than 9.
      color: ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
              "#ff9da7", "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6",
              "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"],
      title: { text: reasons.dataset.title, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "item" },
      legend: { type: "plain", orient: "vertical", left: "52%", top: 40, itemGap: 8,
                formatter: function (name) { return name + "  " + count[name]; } },
      series: [{ type: "pie", radius: ["22%", "44%"], center: ["26%", "55%"],
                 label: { show: false }, data: data.by_reason }]
    });
    daily.dataset.ready = "1";
    window.addEventListener("resize", function () { lines.resize(); pie.resize(); });
  });
}());
