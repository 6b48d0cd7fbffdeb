// hostbook serve: the live run view. Follows the run's event stream (server-sent
// events, the same events `hostbook run --json` prints) and, on a host page, notices a
// run that starts later and adds each finished run to the history table.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) { return; }
  const host = live.dataset.host;
  const $ = (id) => document.getElementById(id);
  const volumes = {};
  let following = null;

  function size(n) {
    if (n === null || n === undefined) { return ""; }
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u === 0 ? v + " B" : v.toFixed(1) + " " + units[u];
  }
  function seconds(s) {
    if (s === null || s === undefined) { return ""; }
    const m = Math.floor(s / 60), r = Math.round(s % 60);
    return m + ":" + String(r).padStart(2, "0");
  }
  function set(id, text) { const el = $(id); if (el) { el.textContent = text; } }
  function of(done, total, fmt) { return fmt(done) + (total ? " of " + fmt(total) : ""); }

  function show(e) {
    const item = document.createElement("li");
    item.textContent = [e.event, e.job, e.step, e.status, e.message].filter(Boolean).join(" ");
    $("live-events").appendChild(item);
    if (e.event === "step-start") {
      if (e.volume) { volumes[e.job] = e.volume; }
      set("live-step", e.step); set("live-job", e.job || "");
      set("live-volume", e.volume || volumes[e.job] || "");
    } else if (e.event === "progress") {
      set("live-step", e.step); set("live-job", e.job || "");
      set("live-volume", e.volume || volumes[e.job] || "");
      if (e.bytes_done !== undefined) {
        set("live-bytes", of(e.bytes_done, e.bytes_total, size));
        set("live-files", of(e.files_done, e.files_total, String));
        set("live-rate", e.rate === null ? "" : size(e.rate) + "/s");
        set("live-eta", seconds(e.eta));
      }
      set("live-text", e.message || "");
      const bar = $("live-fraction");
      if (e.fraction === null) { bar.removeAttribute("value"); } else { bar.value = e.fraction; }
    } else if (e.event === "run-end") {
      set("live-step", "finished: " + e.status);
      const status = $("run-status");
      if (status) { status.textContent = e.status; }
    }
  }

  function follow(run) {
    if (following === run) { return; }
    following = run;
    live.dataset.run = run;
    set("live-run", run);
    $("live-idle").hidden = true;
    $("live-figures").hidden = false;
    const source = new EventSource("/api/runs/" + encodeURIComponent(run) + "/events");
    source.onmessage = (m) => show(JSON.parse(m.data));
    source.addEventListener("end", () => {
      source.close();
      following = null;
      refreshHistory();
    });
  }

  function row(r) {
    const tr = document.createElement("tr");
    tr.className = "run"; tr.dataset.run = r.run; tr.dataset.status = r.status || "running";
    const when = (t) => t ? new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") : "running";
    const link = document.createElement("a");
    link.href = "/runs/" + r.run; link.textContent = r.run;
    const cells = [link, r.host, when(r.started), when(r.finished), r.status || "running", r.message];
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c; }
      tr.appendChild(td);
    }
    return tr;
  }

  async function runs() {
    const answer = await fetch("/api/hosts/" + encodeURIComponent(host) + "/runs?limit=20");
    return answer.ok ? (await answer.json()).runs : [];
  }

  async function refreshJobs() {
    const jobs = $("jobs-table");
    if (!jobs) { return; }
    const answer = await fetch(window.location.href);
    if (!answer.ok) { return; }
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    const table = fresh.getElementById("jobs-table");
    if (table) { jobs.replaceWith(table); }
  }

  async function refreshHistory() {
    refreshJobs();
    const table = $("run-history");
    if (!table) { return; }
    const list = await runs();
    const body = table.tBodies[0];
    body.replaceChildren(...list.map(row));
    const none = $("no-runs");
    if (none && list.length) { none.hidden = true; }
  }

  async function watch() {
    if (!following) {
      const list = await runs().catch(() => []);
      const running = list.find((r) => !r.status);
      if (running) { follow(running.run); }
    }
    setTimeout(watch, 1000);
  }

  if (live.dataset.run) { follow(live.dataset.run); }
  if ($("run-history")) { watch(); }
})();
