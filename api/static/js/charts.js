// Charts with TradingView Lightweight Charts (Apache-2.0), loaded as the
// standalone ES module build from /vendor/ (installed by `npm ci`, never
// committed). Chart values are integer cents; labels go through formatCents,
// so no money is ever shown from a float.

import { formatCents } from "./money.js";

const VENDOR_URL = "/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
let loading = null;

/** The library module, or null when it is not installed (the page says so). */
export function loadCharts() {
  if (!loading) {
    loading = import(VENDOR_URL).catch((err) => {
      console.warn("Lightweight Charts is not available:", err.message);
      return null;
    });
  }
  return loading;
}

const centsFormat = { type: "custom", minMove: 1, formatter: (v) => formatCents(Math.round(v)) };

function baseOptions() {
  return {
    autoSize: true,
    layout: {
      background: { color: "#ffffff" },
      textColor: "#1f2933",
      fontFamily: "system-ui, sans-serif",
      attributionLogo: true,
    },
    grid: { vertLines: { color: "#eef0f3" }, horzLines: { color: "#eef0f3" } },
    localization: { priceFormatter: (v) => formatCents(Math.round(v)) },
  };
}

function unavailable(container) {
  container.textContent = "Charts are unavailable: the Lightweight Charts package is not installed (run make install).";
  container.classList.add("chart-missing");
}

const toSeconds = (rfc3339) => Math.floor(Date.parse(rfc3339) / 1000);

/** A candlestick chart. */
export async function candleChart(container) {
  const lw = await loadCharts();
  if (!lw) {
    unavailable(container);
    return { setCandles() {}, update() {}, destroy() {}, lastTime: null };
  }
  const chart = lw.createChart(container, {
    ...baseOptions(),
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const series = chart.addSeries(lw.CandlestickSeries, {
    priceFormat: centsFormat,
    upColor: "#0a7d32",
    downColor: "#b3261e",
    borderUpColor: "#0a7d32",
    borderDownColor: "#b3261e",
    wickUpColor: "#0a7d32",
    wickDownColor: "#b3261e",
  });
  const api = {
    lastTime: null,
    setCandles(candles) {
      const data = candles
        .map((c) => ({
          time: toSeconds(c.start),
          open: c.open_cents,
          high: c.high_cents,
          low: c.low_cents,
          close: c.close_cents,
        }))
        .sort((a, b) => a.time - b.time);
      series.setData(data);
      api.lastTime = data.length ? data[data.length - 1].time : null;
      chart.timeScale().fitContent();
    },
    update(c) {
      const time = toSeconds(c.start);
      // The library refuses to update a bar older than the last one.
      if (api.lastTime !== null && time < api.lastTime) return;
      series.update({ time, open: c.open_cents, high: c.high_cents, low: c.low_cents, close: c.close_cents });
      api.lastTime = time;
    },
    destroy() {
      chart.remove();
    },
  };
  return api;
}

/**
 * Horizontal scale of integer cents for the depth chart: the library's price
 * scale ("options chart") would label 18500 as "18500"; this one says "$185.00".
 * Implements the library's IHorzScaleBehavior for numbers.
 */
class CentsHorzScale {
  options() {
    return this.opts;
  }
  setOptions(options) {
    this.opts = options;
  }
  preprocessData() {}
  updateFormatter(localization) {
    if (this.opts) this.opts.localization = localization;
  }
  createConverterToInternalObj() {
    return (cents) => cents;
  }
  key(item) {
    return item;
  }
  cacheKey(item) {
    return item;
  }
  convertHorzItemToInternal(item) {
    return item;
  }
  formatHorzItem(item) {
    return formatCents(Math.round(item));
  }
  formatTickmark(mark) {
    return formatCents(Math.round(mark.time));
  }
  maxTickMarkWeight(marks) {
    return marks.reduce((a, b) => (b.weight > a.weight ? b : a), marks[0]).weight;
  }
  fillWeightsForPoints(points, start) {
    // Rounder dollar amounts make better labels: $100s over $50s over ... $1s.
    const steps = [[10000, 8], [5000, 7], [2500, 6], [1000, 5], [500, 4], [100, 3], [50, 1]];
    for (let i = start; i < points.length; i++) {
      const c = points[i].time;
      const hit = steps.find(([step]) => c % step === 0);
      points[i].timeWeight = hit ? hit[1] : 0;
    }
  }
}

/** A depth chart: cumulative quantity against price (cents), bids and asks. */
export async function depthChart(container) {
  const lw = await loadCharts();
  if (!lw) {
    unavailable(container);
    return { update() {}, destroy() {} };
  }
  const chart = lw.createChartEx(container, new CentsHorzScale(), {
    ...baseOptions(),
    localization: { priceFormatter: (v) => String(Math.round(v)) },
    handleScroll: false,
    handleScale: false,
  });
  const common = { lineType: lw.LineType.WithSteps, lineWidth: 2, priceFormat: { type: "volume" } };
  const bids = chart.addSeries(lw.AreaSeries, {
    ...common,
    lineColor: "#0a7d32",
    topColor: "rgba(10,125,50,0.35)",
    bottomColor: "rgba(10,125,50,0.05)",
  });
  const asks = chart.addSeries(lw.AreaSeries, {
    ...common,
    lineColor: "#b3261e",
    topColor: "rgba(179,38,30,0.35)",
    bottomColor: "rgba(179,38,30,0.05)",
  });
  return {
    update(book) {
      const bidLevels = book.bidLevels(50); // highest first
      let cum = 0;
      const bidData = bidLevels.map(([p, q]) => ({ time: p, value: (cum += q) })).reverse();
      cum = 0;
      const askData = book.askLevels(50).map(([p, q]) => ({ time: p, value: (cum += q) }));
      bids.setData(bidData);
      asks.setData(askData);
      chart.timeScale().fitContent();
    },
    destroy() {
      chart.remove();
    },
  };
}

/** A line chart of a portfolio's value over time (points {time: "YYYY-MM-DD"|RFC 3339, value_cents}). */
export async function valueChart(container) {
  const lw = await loadCharts();
  if (!lw) {
    unavailable(container);
    return { setPoints() {}, destroy() {} };
  }
  const chart = lw.createChart(container, { ...baseOptions(), timeScale: { timeVisible: false } });
  const value = chart.addSeries(lw.AreaSeries, {
    priceFormat: centsFormat,
    lineColor: "#1f5fbf",
    topColor: "rgba(31,95,191,0.3)",
    bottomColor: "rgba(31,95,191,0.03)",
    title: "Value",
  });
  const cost = chart.addSeries(lw.LineSeries, {
    priceFormat: centsFormat,
    color: "#6b7280",
    lineWidth: 1,
    lineStyle: lw.LineStyle.Dashed,
    title: "Cost",
  });
  return {
    setPoints(points) {
      const seen = new Set();
      const rows = [];
      for (const p of points) {
        const raw = p.date ?? p.time ?? p.start;
        const t = toSeconds(raw.length === 10 ? `${raw}T00:00:00Z` : raw);
        if (Number.isNaN(t) || seen.has(t)) continue;
        seen.add(t);
        rows.push({ t, v: p.value_cents, c: p.cost_cents });
      }
      rows.sort((a, b) => a.t - b.t);
      value.setData(rows.filter((r) => r.v !== null && r.v !== undefined).map((r) => ({ time: r.t, value: r.v })));
      cost.setData(rows.filter((r) => r.c !== null && r.c !== undefined).map((r) => ({ time: r.t, value: r.c })));
      chart.timeScale().fitContent();
    },
    destroy() {
      chart.remove();
    },
  };
}
