/* forgelens dashboards: renders a view (JSON from the server or inlined in a report). */
(function () {
  "use strict";
  var COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#9333ea", "#dc2626", "#0891b2", "#6b7280"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function withCode(text) {
    /* `command` spans become <code>; everything else stays text. */
    var span = el("span");
    String(text).split("`").forEach(function (part, i) {
      span.appendChild(i % 2 ? el("code", { text: part }) : document.createTextNode(part));
    });
    return span;
  }

  var RAW = { pr: 1, pr_number: 1, run_id: 1, week: 1, day: 1 };

  function item(v) {
    if (v === null || typeof v !== "object") return String(v);
    if (v.detail) return v.factor.replace(/_/g, " ") + ": " + v.detail;
    if (v.path) return v.path + (v.score !== undefined ? " (" + v.score + ")" : "");
    return v.name || JSON.stringify(v);
  }

  function fmt(value, column) {
    if (value === null || value === undefined || value === "") return "—";
    if (value === true) return "yes";
    if (value === false) return "no";
    if (Array.isArray(value)) {
      if (!value.length) return "—";
      var objects = typeof value[0] === "object" && value[0] !== null;
      return value.map(item).join(objects ? "\n" : ", ");
    }
    if (typeof value === "object") return JSON.stringify(value);
    if (typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value)) {
      return value.slice(0, 16).replace("T", " ");
    }
    if (typeof value === "number" && !RAW[column]) {
      return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
    }
    return String(value);
  }

  function csvText(table) {
    var quote = function (v) {
      if (v === null || v === undefined) return "";
      var s = typeof v === "object" ? JSON.stringify(v) : String(v);
      return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    return [table.columns].concat(table.rows).map(function (r) {
      return r.map(quote).join(",");
    }).join("\n") + "\n";
  }

  function csvLink(view, name, opts) {
    var a = el("a", { "class": "csv", "data-csv": name, text: "Download CSV" });
    if (opts.offline) {
      a.href = "data:text/csv;charset=utf-8," + encodeURIComponent(csvText(view.tables[name]));
    } else {
      a.href = "/api/v1/dashboards/" + view.page + "/" + name + ".csv" + window.location.search;
    }
    a.setAttribute("download", view.page + "-" + name + ".csv");
    return a;
  }

  function renderTable(name, table) {
    if (!table.rows.length) {
      return el("p", { "class": "muted", "data-empty-table": name }, [withCode(table.empty)]);
    }
    var head = el("tr", {}, table.columns.map(function (c) {
      return el("th", { text: c.replace(/_/g, " ") });
    }));
    var body = table.rows.map(function (r) {
      return el("tr", {}, r.map(function (v, i) {
        var col = table.columns[i];
        var cls = typeof v === "number" ? "num" : (Array.isArray(v) ? "list" : "");
        if (col === "title" || col === "summary") cls = "text";
        return el("td", { "class": cls, text: fmt(v, col) });
      }));
    });
    return el("div", { "class": "scroll" }, [
      el("table", { "data-table": name }, [el("thead", {}, [head]), el("tbody", {}, body)]),
    ]);
  }

  function renderChart(view, spec, canvas) {
    var table = view.tables[spec.table];
    var xs = [].concat(spec.x).map(function (x) { return table.columns.indexOf(x); });
    var labels = table.rows.map(function (r) {
      return xs.map(function (i) { return fmt(r[i], table.columns[i]); }).join(" · ");
    });
    var datasets = spec.series.map(function (name, i) {
      var ci = table.columns.indexOf(name);
      return {
        label: name.replace(/_/g, " "),
        data: table.rows.map(function (r) { return r[ci]; }),
        backgroundColor: COLORS[i % COLORS.length],
        borderColor: COLORS[i % COLORS.length],
        borderWidth: spec.kind === "line" ? 2 : 0,
        pointRadius: spec.kind === "line" ? 2 : 0,
      };
    });
    if (typeof Chart === "undefined") return;
    new Chart(canvas, {
      type: spec.kind === "hbar" ? "bar" : spec.kind,
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        indexAxis: spec.kind === "hbar" ? "y" : "x",
        plugins: { legend: { display: datasets.length > 1, position: "bottom" } },
        scales: {
          x: { stacked: spec.stacked, ticks: { autoSkip: true, maxRotation: 0 } },
          y: { stacked: spec.stacked, beginAtZero: true },
        },
      },
    });
  }

  function renderFilters(view, opts) {
    if (!view.filters.length) return null;
    var form = el("form", { method: "get", "class": "filters", action: "/" + view.page });
    view.filters.forEach(function (f) {
      var label = el("label", {}, [el("span", { text: f.label })]);
      if (opts.offline) {
        var picked = f.options.filter(function (o) { return o[0] === f.value; })[0];
        label.appendChild(el("strong", { text: picked ? picked[1] : (f.value || "—") }));
      } else {
        var select = el("select", { name: f.name });
        f.options.forEach(function (o) {
          var option = el("option", { value: o[0], text: o[1] });
          if (o[0] === f.value) option.selected = true;
          select.appendChild(option);
        });
        select.addEventListener("change", function () { form.submit(); });
        label.appendChild(select);
      }
      form.appendChild(label);
    });
    if (!opts.offline) form.appendChild(el("noscript", {}, [el("button", { text: "Apply" })]));
    return form;
  }

  function render(view, root, opts) {
    opts = opts || {};
    root.appendChild(el("div", { "class": "heading" }, [
      el("h1", { text: view.title }), el("p", { "class": "muted", text: view.subtitle }),
    ]));
    var filters = renderFilters(view, opts);
    if (filters) root.appendChild(filters);
    if (view.empty) {
      root.appendChild(el("div", { "class": "empty", "data-empty": "1" }, [
        el("h2", { text: view.empty.title }), el("p", {}, [withCode(view.empty.next)]),
      ]));
    }
    if (view.cards.length) {
      root.appendChild(el("div", { "class": "cards" }, view.cards.map(function (c) {
        return el("div", { "class": "card" + (c.tone ? " " + c.tone : ""), "data-key": c.key }, [
          el("div", { "class": "label", text: c.label }),
          el("div", { "class": "value", text: fmt(c.value) }),
          c.note ? el("div", { "class": "note", text: c.note }) : null,
        ]);
      })));
    }
    var charted = {};
    view.charts.forEach(function (spec) {
      var table = view.tables[spec.table];
      charted[spec.table] = true;
      var canvas = el("canvas", { "aria-label": spec.title || table.title, role: "img" });
      var box = el("section", { "class": "panel", "data-chart": spec.table }, [
        el("div", { "class": "panel-head" }, [el("h2", { text: spec.title || table.title }),
          csvLink(view, spec.table, opts)]),
        el("div", { "class": spec.kind === "hbar" ? "chart tall" : "chart" }, [canvas]),
        el("details", {}, [el("summary", { text: "Show the numbers" }),
          renderTable(spec.table, table)]),
      ]);
      root.appendChild(box);
      renderChart(view, spec, canvas);
    });
    view.order.forEach(function (name) {
      if (charted[name]) return;
      var table = view.tables[name];
      root.appendChild(el("section", { "class": "panel", "data-section": name }, [
        el("div", { "class": "panel-head" }, [el("h2", { text: table.title }),
          table.rows.length ? csvLink(view, name, opts) : null]),
        renderTable(name, table),
      ]));
    });
  }

  window.forgelensRender = render;
  document.addEventListener("DOMContentLoaded", function () {
    var nodes = document.querySelectorAll("script[data-view]");
    for (var i = 0; i < nodes.length; i++) {
      var target = document.getElementById(nodes[i].getAttribute("data-view"));
      render(JSON.parse(nodes[i].textContent), target,
        { offline: document.body.hasAttribute("data-offline") });
    }
    document.body.setAttribute("data-rendered", "1");
  });
})();
