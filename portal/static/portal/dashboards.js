/* Dashboards: draws the ECharts charts from the JSON that the page carries in <script type="application/json">
 * (json_script), since the Content-Security-Policy forbids inline script. The same numbers are in the table
 * beside each chart. Runs on first load and again on every part of the page that htmx swaps in. */
(function () {
  "use strict";

  var COLOURS = {
    actual: "#1d4e89",
    expected: "#7b8794",
    projection: "#b7791f",
    target: "#b71c1c",
    cities: "#1d4e89",
  };
  var FONT = '"PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
  var charts = [];

  function numbers(list) {
    return list.map(function (v) {
      return v === null || v === undefined ? null : Number(v);
    });
  }

  function formatter(decimals, loose) {
    var places = Number(decimals) || 0;
    return function (value) {
      if (value === null || value === undefined || isNaN(value)) {
        return "—";
      }
      return Number(value).toLocaleString(document.documentElement.lang || "zh-CN", {
        minimumFractionDigits: loose ? 0 : places,
        maximumFractionDigits: places,
      });
    };
  }

  function trendOption(data) {
    var fmt = formatter(data.decimals);
    var series = data.series.map(function (s) {
      var line = {
        name: s.name,
        type: "line",
        data: numbers(s.data),
        connectNulls: s.key !== "actual",
        symbolSize: s.key === "actual" ? 7 : 4,
        itemStyle: { color: COLOURS[s.key] },
        lineStyle: { color: COLOURS[s.key], width: s.key === "actual" ? 3 : 2 },
      };
      if (s.key === "expected") {
        line.lineStyle.type = "dashed";
      }
      if (s.key === "projection") {
        line.lineStyle.type = "dotted";
      }
      if (s.key === "actual" && data.target !== null) {
        line.markLine = {
          symbol: "none",
          silent: true,
          label: { formatter: data.target_name + " " + fmt(Number(data.target)), position: "insideEndTop" },
          lineStyle: { color: COLOURS.target, type: "solid", width: 1.5 },
          data: [{ yAxis: Number(data.target) }],
        };
      }
      return line;
    });
    var shown = data.series.filter(function (s) {
      return s.data.some(function (v) {
        return v !== null;
      });
    });
    return {
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 24, top: 40, bottom: 8, containLabel: true },
      legend: {
        top: 0,
        data: shown.map(function (s) {
          return s.name;
        }),
      },
      tooltip: { trigger: "axis", valueFormatter: fmt },
      xAxis: { type: "category", data: data.categories, boundaryGap: false, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", name: data.unit || "", axisLabel: { formatter: formatter(data.decimals, true) } },
      series: series.filter(function (s, i) {
        return shown.indexOf(data.series[i]) !== -1;
      }),
    };
  }

  function citiesOption(data) {
    var fmt = formatter(data.decimals);
    var s = data.series[0];
    // Ranked highest first: ECharts draws a category y-axis bottom-up, so reverse it.
    return {
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 8, right: 64, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: fmt },
      xAxis: { type: "value", name: data.unit || "", axisLabel: { formatter: formatter(data.decimals, true) } },
      yAxis: { type: "category", data: data.categories.slice().reverse() },
      series: [
        {
          name: s.name,
          type: "bar",
          data: numbers(s.data).reverse(),
          itemStyle: { color: COLOURS.cities },
          label: { show: true, position: "right", formatter: function (p) { return fmt(p.value); } },
        },
      ],
    };
  }

  var BUILDERS = { trend: trendOption, cities: citiesOption };

  function draw(root) {
    if (!window.echarts) {
      return;
    }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-source"));
      var build = BUILDERS[el.getAttribute("data-chart")];
      if (!source || !build || el.getAttribute("data-drawn") === "true") {
        return;
      }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(build(JSON.parse(source.textContent)));
      el.setAttribute("data-drawn", "true");
      charts.push(chart);
    });
  }

  function keepLanguageSwitchOnThisPage() {
    // After htmx changed the URL (period selector), the language switch must come back to the same view.
    var next = document.querySelector('.language-switch input[name="next"]');
    if (next) {
      next.value = window.location.pathname + window.location.search;
    }
  }

  window.addEventListener("resize", function () {
    charts = charts.filter(function (c) {
      return !c.isDisposed() && document.body.contains(c.getDom());
    });
    charts.forEach(function (c) {
      c.resize();
    });
  });
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (c) {
      c.resize();
    });
  });

  function start() {
    draw(document);
    if (window.htmx) {
      // Parts of the page that htmx swaps in (period selector) bring their own charts.
      window.htmx.onLoad(draw);
      document.body.addEventListener("htmx:pushedIntoHistory", keepLanguageSwitchOnThisPage);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
