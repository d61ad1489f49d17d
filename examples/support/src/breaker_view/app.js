// The breaker page: a table kept current from the event stream at breakers/events.
// Every value goes into the page with textContent (never as HTML): upstream names come
// from configuration and service registries.
"use strict";

(() => {
  const table = document.getElementById("breakers");
  const status = document.getElementById("status");
  const empty = document.getElementById("empty");
  /** name -> { tr, cells, openUntil } */
  const rows = new Map();

  const setStatus = (text, kind) => {
    status.textContent = text;
    status.className = "status " + kind;
  };

  const cell = (tr, className) => {
    const td = document.createElement("td");
    td.className = className;
    tr.appendChild(td);
    return td;
  };

  const leftText = (row) => {
    if (row.openUntil === null) return "–";
    const left = Math.max(0, row.openUntil - performance.now());
    return (left / 1000).toFixed(1) + " s";
  };

  const upsert = (breaker) => {
    let row = rows.get(breaker.name);
    if (!row) {
      const tr = document.createElement("tr");
      row = {
        tr,
        cells: {
          name: cell(tr, "name"),
          state: cell(tr, "state"),
          left: cell(tr, "left"),
          successes: cell(tr, "count successes"),
          failures: cell(tr, "count failures"),
          rejections: cell(tr, "count rejections"),
        },
        openUntil: null,
      };
      row.cells.name.textContent = breaker.name;
      rows.set(breaker.name, row);
      table.appendChild(row.tr);
    }
    row.tr.dataset.state = String(breaker.state);
    row.cells.state.textContent = String(breaker.state);
    row.openUntil =
      typeof breaker.remainingOpenMs === "number"
        ? performance.now() + breaker.remainingOpenMs
        : null;
    row.cells.left.textContent = leftText(row);
    row.cells.successes.textContent = String(breaker.successes);
    row.cells.failures.textContent = String(breaker.failures);
    row.cells.rejections.textContent = String(breaker.rejections);
  };

  const breakersOf = (event) => {
    const frame = JSON.parse(event.data);
    return Array.isArray(frame.breakers) ? frame.breakers : [];
  };

  const source = new EventSource("breakers/events");
  source.onopen = () => setStatus("live", "live");
  source.onerror = () => setStatus("reconnecting…", "reconnecting");
  source.addEventListener("snapshot", (event) => {
    const breakers = breakersOf(event);
    const names = new Set(breakers.map((breaker) => breaker.name));
    for (const [name, row] of rows) {
      if (!names.has(name)) {
        row.tr.remove();
        rows.delete(name);
      }
    }
    breakers.forEach(upsert);
    empty.hidden = rows.size > 0;
    setStatus("live", "live");
  });
  source.addEventListener("update", (event) => {
    breakersOf(event).forEach(upsert);
    empty.hidden = rows.size > 0;
  });

  // The time left of open breakers, counted down between updates.
  setInterval(() => {
    for (const row of rows.values()) {
      if (row.openUntil !== null) row.cells.left.textContent = leftText(row);
    }
  }, 200);
})();
