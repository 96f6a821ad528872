// The dashboard asks GET /api/dashboard every few seconds and redraws.
// Every value is put in as text, never as markup: kernel names come from
// whoever asked for a build.
(() => {
  "use strict";
  const pollMs = Number(document.body.dataset.pollMs) || 2000;
  const svgNS = "http://www.w3.org/2000/svg";
  const palette = ["#2e6bd6", "#1b8a4b", "#b5477b", "#9a6700", "#6b4fc4", "#0f7f8c"];
  let last = null;
  // How far the browser's clock is ahead of the service's, so that the
  // elapsed times tick between polls by the service's clock.
  let skew = 0;

  function el(tag, cls, ...children) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function link(href, text) {
    const a = el("a", "", text);
    a.href = href;
    return a;
  }

  // A run URL comes from GitHub; anything but http(s) is not followed.
  function external(href, text) {
    if (!/^https?:\/\//.test(href || "")) return null;
    const a = link(href, text);
    a.rel = "noopener noreferrer";
    return a;
  }

  function duration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
  }

  function ago(t, now) {
    const s = (new Date(now) - new Date(t)) / 1000;
    return s < 5 ? "just now" : duration(s) + " ago";
  }

  function clock(t) {
    return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function badge(status, text) {
    return el("span", "badge " + status, text || status.replace("_", " "));
  }

  function kernelCell(b) {
    return el("td", "", el("div", "kernel", b.kernel_version), el("div", "sub", b.architecture));
  }

  function timelineCell(b) {
    return el("td", "", link("#build/" + b.build_id, "timeline"));
  }

  function row(b, cells) {
    const tr = el("tr", "", ...cells);
    tr.dataset.buildId = b.build_id;
    return tr;
  }

  function fill(section, items, draw) {
    const root = document.getElementById(section);
    root.querySelector(".empty").hidden = items.length > 0;
    const body = root.querySelector("tbody, ul, .chart");
    const table = root.querySelector("table");
    if (table) table.hidden = items.length === 0;
    body.replaceChildren(...draw(items));
    return root;
  }

  function stepCell(b, now) {
    if (!b.step) {
      const waiting = b.status === "queued" ? "waiting for dispatch" : "waiting for the workflow to start";
      return el("td", "", badge(b.status), " ", el("span", "sub", waiting));
    }
    // A step reported a while ago may have ended since: say when.
    const age = (new Date(now) - new Date(b.step_at)) / 1000;
    const sub = [b.job ? "job " + b.job : "", age >= 10 ? "as of " + duration(age) + " ago" : ""].filter(Boolean).join(", ");
    return el("td", "", el("div", "", badge(b.status), " ", el("span", "step", b.step)), sub ? el("div", "sub", sub) : null);
  }

  function elapsedCell(b) {
    const td = el("td", "num elapsed", duration(b.elapsed_seconds));
    td.dataset.since = b.created_at;
    return td;
  }

  function tick() {
    for (const td of document.querySelectorAll("td.elapsed")) {
      td.textContent = duration((Date.now() - skew - new Date(td.dataset.since)) / 1000);
    }
  }

  function remainingCell(b) {
    const e = b.estimate;
    if (!e) return el("td", "", el("div", "", "no estimate yet"), el("div", "sub", "no done " + b.distribution + " build to judge by"));
    const meter = el("div", "meter", el("span"));
    const share = e.typical_seconds > 0 ? b.elapsed_seconds / e.typical_seconds : 1;
    meter.firstChild.style.width = Math.min(100, Math.round(share * 100)) + "%";
    const text = e.remaining_seconds > 0 ? "about " + duration(e.remaining_seconds) + " left" : "longer than usual";
    if (e.remaining_seconds <= 0) meter.classList.add("over");
    const from = e.from === 1 ? "1 build" : e.from + " builds";
    return el("td", "num", meter, el("div", "", text), el("div", "sub", "typical " + duration(e.typical_seconds) + ", median of " + from));
  }

  function drawInFlight(v) {
    const root = fill("in-flight", v.in_flight, (bs) => bs.map((b) => row(b, [
      kernelCell(b),
      el("td", "", b.distribution + " " + b.distro_version),
      el("td", "", b.driver_version),
      stepCell(b, v.now),
      elapsedCell(b),
      remainingCell(b),
      timelineCell(b),
    ])));
    root.querySelector(".count").textContent = v.in_flight.length ? String(v.in_flight.length) : "";
  }

  function drawRecent(v) {
    fill("recent", v.recent, (bs) => bs.map((b) => {
      const when = el("td", "num", ago(b.finished_at, v.now));
      when.title = new Date(b.finished_at).toString();
      const outcome = b.status === "error" ? badge("error", "error: " + b.reason.replace("_", " ")) : badge(b.status);
      return row(b, [
        when, kernelCell(b),
        el("td", "", b.distribution + " " + b.distro_version),
        el("td", "", b.driver_version),
        el("td", "outcome", outcome),
        el("td", "num", duration(b.duration_seconds)),
        timelineCell(b),
      ]);
    }));
  }

  function drawFailures(v) {
    const most = Math.max(1, ...v.failures.map((f) => f.builds));
    fill("failures", v.failures, (fs) => fs.map((f) => {
      const bar = el("div", "bar");
      bar.style.width = Math.max(2, Math.round(f.builds / most * 100)) + "%";
      const li = el("li", "", el("div", "", el("div", "", f.reason.replace("_", " ")), el("div", "sub", f.distribution)),
        el("div", "", bar), el("div", "n", String(f.builds)));
      li.dataset.reason = f.reason;
      li.dataset.distribution = f.distribution;
      return li;
    }));
  }

  // How full each release and shard is: a full one refuses the next upload.
  function drawReleases(v) {
    fill("releases", v.releases, (rs) => rs.map((r) => {
      const bar = el("div", "bar");
      bar.style.width = Math.max(1, Math.round(r.assets / r.limit * 100)) + "%";
      const li = el("li", "", el("div", "", r.tag), el("div", "", bar), el("div", "n", r.assets + " / " + r.limit));
      li.dataset.tag = r.tag;
      return li;
    }));
  }

  function clipText(s, n) {
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  // The fleet's kernels as a bar chart: a group per distribution, a bar per
  // kernel as long as the requests for it.
  function drawFleet(v) {
    const most = Math.max(1, ...v.fleet.flatMap((d) => d.kernels.map((k) => k.requests)));
    fill("fleet", v.fleet, (ds) => {
      const width = 640, labelW = 250, barW = 320;
      const chart = svg("svg", { role: "img", "aria-label": "kernels the fleet runs, by distribution" });
      let y = 0;
      ds.forEach((d, i) => {
        const color = palette[i % palette.length];
        y += 20;
        const n = d.kernels.length + d.more;
        const head = svg("text", { x: 0, y });
        head.append(svg("tspan", { class: "dist" }, d.name), svg("tspan", { dx: 12, class: "muted" },
          n + (n === 1 ? " kernel, " : " kernels, ") + d.requests + (d.requests === 1 ? " request" : " requests")));
        chart.append(head);
        y += 8;
        for (const k of d.kernels) {
          const g = svg("g", { "data-kernel": k.kernel_version, "data-distribution": d.name });
          g.append(svg("title", {}, d.name + " " + k.distro_version + " " + k.kernel_version + " " + k.architecture +
            ": " + k.requests + " requests, last " + new Date(k.last_seen).toString()));
          g.append(svg("text", { x: 12, y: y + 13 }, clipText(k.kernel_version, 28)));
          g.append(svg("text", { x: 12 + 200, y: y + 13, class: "muted" }, k.distro_version));
          const w = Math.max(3, Math.round(k.requests / most * barW));
          g.append(svg("rect", { x: labelW, y: y + 3, width: w, height: 13, rx: 2, fill: color }));
          g.append(svg("text", { x: labelW + w + 6, y: y + 13, class: "muted" }, String(k.requests)));
          chart.append(g);
          y += 20;
        }
        if (d.more) {
          chart.append(svg("text", { x: 12, y: y + 13, class: "muted" }, "and " + d.more + " more"));
          y += 20;
        }
        y += 6;
      });
      chart.setAttribute("viewBox", "0 0 " + width + " " + (y + 4));
      return [chart];
    });
  }

  const prStates = { pending: "branch being pushed", pr_open: "waiting for checks", checks_failed: "a required check failed" };

  // Absent where the service proposes no kernels.json changes.
  function drawPullRequests(v) {
    const prs = v.pull_requests;
    const root = document.getElementById("pull-requests");
    root.hidden = !prs;
    if (!prs) return;
    fill("pull-requests", prs, (ps) => ps.map((p) => {
      const title = p.number ? external(p.url, "#" + p.number) || "#" + p.number : "not opened yet";
      const state = badge(p.state === "checks_failed" ? "error" : "in_progress", prStates[p.state] || p.state);
      const kernels = el("td", "", ...p.kernels.map((k) =>
        el("div", "", el("span", "kernel", k.kernel_version), " ", el("span", "sub", k.distribution + " " + k.distro_version + " " + k.architecture))));
      const tr = el("tr", "", el("td", "", el("div", "", title), el("div", "sub kernel", p.branch)), el("td", "", state), kernels,
        el("td", "num", ago(p.proposed, v.now)));
      tr.dataset.branch = p.branch;
      return tr;
    }));
    root.querySelector(".count").textContent = prs.length ? String(prs.length) : "";
  }

  function drawTimeline(events) {
    const root = document.getElementById("timeline");
    const first = events.length ? new Date(events[0].at) : null;
    root.querySelector(".events").replaceChildren(...events.map((e) => {
      const what = e.from ? e.from.replace("_", " ") + " → " + e.to.replace("_", " ") : "created, " + e.to.replace("_", " ");
      const li = el("li", e.to,
        el("span", "when", clock(e.at) + " (+" + duration((new Date(e.at) - first) / 1000) + ")"),
        el("strong", "", what), " ", el("span", "sub", "by " + e.source + (e.reason ? ", " + e.reason.replace("_", " ") : "")),
        e.detail ? el("div", "sub", e.detail) : null);
      return li;
    }));
    const run = events.length ? events[events.length - 1].run_url : "";
    const links = root.querySelector(".links");
    links.replaceChildren();
    const runLink = external(run, "workflow run");
    if (runLink) links.append(runLink, " · ");
    links.append(link(root.dataset.eventsUrl, "events as JSON"));
  }

  function openBuild() {
    const m = /^#build\/([0-9a-f-]{36})$/.exec(location.hash);
    const root = document.getElementById("timeline");
    if (!m) {
      root.hidden = true;
      return;
    }
    const id = m[1];
    root.hidden = false;
    root.dataset.eventsUrl = "/api/builds/" + id + "/events";
    const all = last ? [...last.in_flight, ...last.recent] : [];
    const b = all.find((x) => x.build_id === id);
    root.querySelector(".subtitle").textContent = b ?
      b.kernel_version + " · " + b.architecture + " · " + b.distribution + " " + b.distro_version + " · " + b.driver_version : id;
    fetch(root.dataset.eventsUrl, { cache: "no-store", credentials: "same-origin" })
      .then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)))
      .then((t) => { if (!root.hidden) drawTimeline(t.events); })
      .catch((err) => root.querySelector(".events").replaceChildren(el("li", "", "could not read the timeline: " + err.message)));
  }

  function draw(v) {
    last = v;
    skew = Date.now() - new Date(v.now);
    for (const w of document.querySelectorAll("h2 .window")) w.textContent = "last " + v.window_days + " days";
    drawInFlight(v);
    drawFailures(v);
    drawFleet(v);
    drawReleases(v);
    drawPullRequests(v);
    drawRecent(v);
    const live = document.getElementById("live");
    live.classList.remove("stale");
    live.textContent = "live · updated " + clock(v.now);
  }

  function poll() {
    fetch("/api/dashboard", { cache: "no-store", credentials: "same-origin" })
      .then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)))
      .then((v) => {
        draw(v);
        if (!document.getElementById("timeline").hidden) openBuild();
      })
      .catch((err) => {
        const live = document.getElementById("live");
        live.classList.add("stale");
        live.textContent = "no answer from the service (" + err.message + "); retrying";
      })
      .finally(() => setTimeout(poll, pollMs));
  }

  window.addEventListener("hashchange", openBuild);
  document.getElementById("timeline").addEventListener("click", (e) => {
    if (e.target.id === "timeline") location.hash = "";
  });
  openBuild();
  poll();
  setInterval(tick, 1000);
})();
