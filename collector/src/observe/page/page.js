"use strict";
// Faultline status page: reads /v1/status and /v1/history, draws every service, every 5 s.
// A token given as ?token= is sent as a bearer token (needed beyond loopback or with status_token).
(function () {
  const token = new URLSearchParams(location.search).get("token");
  const STATES = { ok: "OK", warning: "WARNING", critical: "CRITICAL", down: "DOWN", no_data: "NO DATA" };
  const DELIVERY = { delivered: "delivered", retrying: "retrying", rate_limited: "rate limited", webhook_broken: "webhook broken",
    queued: "queued", refused: "refused", dropped: "dropped" };
  const $ = (id) => document.getElementById(id);

  function esc(v) {
    return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function pct(x) {
    return x == null ? "–" : (x * 100).toFixed(x < 0.1 ? 2 : 1) + "%";
  }
  function span(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function ago(ms, now) {
    return ms ? span(now - ms) + " ago" : "–";
  }
  function clock(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false });
  }
  // Titles start with an emoji (as on Discord); the badge says the same, and a machine without an
  // emoji font would draw a box.
  function plain(title) {
    return String(title).replace(/^[^\p{L}\p{N}]+\s/u, "");
  }
  async function get(path) {
    const r = await fetch(path, { cache: "no-store", headers: token ? { Authorization: "Bearer " + token } : {} });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  // The last hour per minute: request volume as bars, the 5xx rate as a line, both thresholds dashed.
  function chart(svc, hist, now) {
    const W = 600, H = 170, L = 40, R = 46, T = 10, B = 22;
    const pw = W - L - R, ph = H - T - B, MIN = 60000, from = now - 3600000;
    const minutes = ((hist && hist.minutes) || []).filter((m) => m.start_ms + MIN > from);
    const th = svc.thresholds || { warning: 0.05, critical: 0.1 };
    let top = th.critical * 1.5;
    for (const m of minutes) if (m.requests > 0) top = Math.max(top, (m.errors / m.requests) * 1.1);
    top = Math.min(1, top);
    const maxVol = Math.max(1, ...minutes.map((m) => m.requests));
    const x = (t) => L + ((t - from) / 3600000) * pw;
    const yr = (r) => T + ph - (r / top) * ph;
    const bw = Math.max(2, pw / 60 - 1);
    let out = `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="5xx rate and volume, last hour">`;
    for (const m of minutes) {
      const h = (m.requests / maxVol) * ph;
      out += `<rect class="vol" data-requests="${m.requests}" x="${x(m.start_ms).toFixed(1)}" y="${(T + ph - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}"></rect>`;
    }
    for (const [name, r] of [["warning", th.warning], ["critical", th.critical]]) {
      out += `<line class="th-${name}" x1="${L}" x2="${L + pw}" y1="${yr(r).toFixed(1)}" y2="${yr(r).toFixed(1)}"></line>`;
      out += `<text x="${L + pw + 4}" y="${(yr(r) + 3).toFixed(1)}">${pct(r)}</text>`;
    }
    const pts = minutes.filter((m) => m.requests > 0).map((m) => [x(m.start_ms) + bw / 2, yr(m.errors / m.requests), m]);
    if (pts.length) {
      const d = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
      out += `<path class="rate-line" d="${d}"></path>`;
      for (const p of pts) out += `<circle class="rate-pt" cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="2.5" data-rate="${(p[2].errors / p[2].requests).toFixed(4)}"><title>${clock(p[2].start_ms)}: ${pct(p[2].errors / p[2].requests)} of ${p[2].requests}</title></circle>`;
    }
    out += `<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" stroke="#d0d5dd"></line>`;
    out += `<text x="${L}" y="${H - 6}">−60 min</text><text x="${L + pw / 2 - 14}" y="${H - 6}">−30 min</text><text x="${L + pw - 16}" y="${H - 6}">now</text>`;
    out += `<text x="4" y="${T + 8}">${pct(top)}</text><text x="4" y="${T + ph}">0%</text>`;
    out += `<text x="4" y="${T + ph / 2}">${maxVol}/min</text></svg>`;
    return out + `<div class="legend muted"><i style="background:#c7d7fe"></i>requests per minute<i style="background:var(--critical)"></i>5xx rate<i style="background:var(--warning)"></i>warning ${pct(th.warning)}<i style="background:var(--critical)"></i>critical ${pct(th.critical)}</div>`;
  }

  // Which API broke when: per top failing route, its 5xx per minute over the last hour, one row each.
  function timeline(hist, now) {
    const lines = (hist && hist.route_minutes) || {};
    const names = ((hist && hist.routes) || []).map((r) => r.route).filter((r) => lines[r]);
    if (!names.length) return `<div class="muted">no 5xx in the last hour</div>`;
    const W = 600, L = 190, row = 16, MIN = 60000, from = now - 3600000;
    const cw = (W - L) / 60;
    let max = 1;
    for (const r of names) for (const m of lines[r]) max = Math.max(max, m.count);
    let out = `<svg class="route-timeline" viewBox="0 0 ${W} ${names.length * row + 14}" role="img" aria-label="5xx per minute per route, last hour">`;
    names.forEach((r, i) => {
      const y = i * row;
      out += `<text x="0" y="${y + 11}" class="rt-name">${esc(r.length > 30 ? r.slice(0, 29) + "…" : r)}</text>`;
      for (const m of lines[r]) {
        if (m.start_ms + MIN <= from) continue;
        const x = L + ((m.start_ms - from) / 3600000) * (W - L);
        const a = (0.15 + 0.85 * (m.count / max)).toFixed(2);
        out += `<rect class="rt" data-route="${esc(r)}" data-count="${m.count}" x="${x.toFixed(1)}" y="${y + 2}" width="${Math.max(1, cw - 1).toFixed(1)}" height="${row - 4}" fill-opacity="${a}"><title>${esc(r)} ${clock(m.start_ms)}: ${m.count} 5xx</title></rect>`;
      }
    });
    const y = names.length * row + 12;
    out += `<text x="${L}" y="${y}">−60 min</text><text x="${W - 24}" y="${y}">now</text></svg>`;
    return out;
  }

  function health(h, now) {
    if (!h) return `<span class="muted">no health check (or none yet)</span>`;
    const state = h.status === "down" ? "down" : h.status === "up" ? "ok" : "no_data";
    const word = { up: "UP", down: "DOWN", unknown: "UNKNOWN" }[h.status] || h.status;
    let s = `<span class="badge ${state}" data-health="${esc(h.status)}">${word}</span> last check <b class="health-result">${esc(h.detail)}</b>`;
    s += ` in <b class="health-latency">${h.latency_ms} ms</b>, ${ago(h.last_check_ms, now)}`;
    if (h.down_since_ms) s += `, down for ${span(now - h.down_since_ms)}`;
    return s;
  }

  function routes(svc, now) {
    if (!svc.top_routes || !svc.top_routes.length) return `<div class="muted">no 5xx in the window</div>`;
    let s = `<table class="routes"><thead><tr><th>route</th><th>5xx</th><th>first seen</th><th>last seen</th></tr></thead><tbody>`;
    for (const r of svc.top_routes)
      s += `<tr><td class="route">${esc(r.route)}</td><td class="num count">${r.count}</td><td>${ago(r.first_seen_ms, now)}</td><td>${ago(r.last_seen_ms, now)}</td></tr>`;
    return s + `</tbody></table>`;
  }

  // The last failing requests the proxies sampled: the ids to search the backend's logs for.
  function failures(svc) {
    const list = svc.last_failures || [];
    if (!list.length) return `<div class="muted">no failing request sampled</div>`;
    let s = `<table class="failures"><thead><tr><th>time</th><th>route</th><th>status</th><th>request id</th><th>upstream</th><th>duration</th></tr></thead><tbody>`;
    for (const f of list)
      s += `<tr class="failure" data-request-id="${esc(f.request_id || "")}"><td>${clock(f.at_ms)}</td><td class="route" title="${esc(f.path || "")}">${esc(f.route)}</td>
        <td class="num">${f.status}</td><td><code>${esc(f.request_id || "-")}</code></td><td>${esc(f.upstream || "-")}</td>
        <td class="num">${f.duration_ms == null ? "-" : f.duration_ms + " ms"}</td></tr>`;
    return s + `</tbody></table>`;
  }

  // One incident per service: its state as last told on Discord, how long it has been open, its worst.
  function incident(svc, now) {
    const i = svc.incident;
    if (!i) return `<span class="muted">none</span>`;
    let s = `<span class="badge ${esc(i.state)}" data-incident="${esc(i.state)}">${esc(String(i.state).toUpperCase())}</span> incident open for <b class="incident-duration">${span(now - i.opened_ms)}</b>`;
    if (i.worst !== i.state) s += ` <span class="muted">(worst: ${esc(String(i.worst).toUpperCase())})</span>`;
    if (i.down && i.level !== "ok") s += ` · 5xx rate ${esc(String(i.level).toUpperCase())} too`;
    if (svc.health && svc.health.down_since_ms) s += `<br><span class="badge down">DOWN</span> for <b>${span(now - svc.health.down_since_ms)}</b>`;
    const a = i.acknowledged;
    if (a) s += `<br><span class="ack" data-ack="${esc(a.by)}">acknowledged by <b>${esc(a.by)}</b> at ${clock(a.at_ms)}</span>`;
    return s;
  }

  // A silence or maintenance window over the service: its changes notify nobody.
  function muted(svc) {
    const m = svc.muted;
    if (!m) return "";
    const what = m.kind === "silence" ? `silenced (#${m.id}${m.reason ? ": " + esc(m.reason) : ""})` : `maintenance "${esc(m.name)}"`;
    return `<span class="badge muted-badge" data-muted="${esc(m.kind)}">MUTED</span> <span class="muted">${what} until ${clock(m.until_ms)}</span>`;
  }

  function silences(list, windows, now) {
    const body = $("silences").tBodies[0];
    const rows = (list || []).filter((s) => s.active).map((s) => `<tr class="silence" data-silence="${s.id}"><td>#${s.id}</td>
      <td>${esc(s.service || "every service")}${s.route ? " · routes " + esc(s.route) : ""}</td><td>${clock(s.until_ms)} <span class="muted">(in ${span(s.until_ms - now)})</span></td>
      <td>${esc(s.reason || "")}${s.by ? ' <span class="muted">by ' + esc(s.by) + "</span>" : ""}</td></tr>`);
    for (const m of windows || [])
      rows.push(`<tr class="maintenance" data-active="${m.active}"><td>maintenance</td><td>${esc((m.services || []).join(", ") || "every service")} · ${esc(m.name)}</td>
        <td>${m.active ? clock(m.until_ms) + ' <span class="muted">(open now)</span>' : m.next_ms ? '<span class="muted">next ' + clock(m.next_ms) + "</span>" : ""}</td><td></td></tr>`);
    body.innerHTML = rows.join("") || `<tr><td colspan="4" class="muted">no silences, no maintenance windows</td></tr>`;
  }

  // A state held for want of reports: say since when the window is covered, or since when nothing came.
  function stale(svc, now) {
    if (!svc.stale) return "";
    const c = svc.coverage || {};
    const why = c.coverage === "partial" ? `reports cover only the last ${span(now - c.from_ms)}` : `no report since ${ago(c.last_ms, now)}`;
    return `<span class="badge stale" data-stale="yes">STALE</span> <span class="muted">${esc(why)}: held, not judged</span>`;
  }

  function proxies(list, now) {
    const body = $("proxies").tBodies[0];
    if (!list.length) {
      body.innerHTML = `<tr><td colspan="4" class="muted">no proxy has flushed yet</td></tr>`;
      return;
    }
    const word = { reporting: "reporting", stopped: "stopped reporting", never: "never reported" };
    const cls = { reporting: "ok", stopped: "critical", never: "critical" };
    body.innerHTML = list.map((p) => {
      const refused = (p.refusals || []).map((r) => `${esc(r.service || "(service not named)")}: ${esc(r.reason)}`).join("<br>");
      return `<tr class="proxy" data-proxy="${esc(p.id)}" data-state="${esc(p.state)}"><td>${esc(p.id)}</td>
        <td><span class="badge ${cls[p.state] || ""}">${esc(word[p.state] || p.state)}</span></td>
        <td>${ago(p.last_flush_ms, now)}</td><td class="refusals">${refused || '<span class="muted">none</span>'}</td></tr>`;
    }).join("");
  }

  function card(svc, hist, now) {
    const w = svc.window || {};
    return `<section class="svc" data-service="${esc(svc.name)}" data-state="${esc(svc.state)}">
      <div class="top"><h2>${esc(svc.name)}</h2><span class="badge state ${esc(svc.state)}">${STATES[svc.state] || esc(svc.state)}</span>
        <span class="muted">since ${clock(svc.since_ms)}${svc.configured ? "" : " · not configured (seen in flushes)"}</span> ${stale(svc, now)} ${muted(svc)}</div>
      <div class="figures"><span>5xx rate <b class="rate">${pct(svc.rate)}</b></span>
        <span><b class="errors">${w.errors || 0}</b> 5xx of <b class="requests">${w.requests || 0}</b> in ${span(w.window_ms || 300000)}</span>
        <span class="muted">total ${svc.totals ? svc.totals.requests : 0} requests, ${svc.totals ? svc.totals.errors : 0} 5xx</span></div>
      ${chart(svc, hist, now)}
      <h3>Health check</h3><div class="health">${health(svc.health, now)}</div>
      <h3>Top failing routes now</h3>${routes(svc, now)}
      <h3>Failing routes, last hour (5xx per minute)</h3>${timeline(hist, now)}
      <h3>Last failing requests</h3>${failures(svc)}
      <h3>Open incidents</h3><div class="incident">${incident(svc, now)}</div>
    </section>`;
  }

  function alerts(list, now) {
    const body = $("alerts").tBodies[0];
    if (!list.length) {
      body.innerHTML = `<tr><td colspan="5" class="muted">no alerts in the last hour</td></tr>`;
      return;
    }
    body.innerHTML = list.map((a) => `<tr class="alert" data-delivery="${esc(a.delivery)}"><td>${clock(a.created_ms)} <span class="muted">(${ago(a.created_ms, now)})</span></td>
      <td>${esc(a.service)}</td><td class="title">${esc(plain(a.title))}</td><td><span class="badge ${esc(a.delivery)}">${esc(DELIVERY[a.delivery] || a.delivery)}</span></td><td class="num">${a.attempts}</td></tr>`).join("");
  }

  async function refresh() {
    try {
      const [status, history] = await Promise.all([get("/v1/status"), get("/v1/history?since=1h")]);
      const now = status.now_ms;
      const order = { down: 0, critical: 1, warning: 2, ok: 3, no_data: 4 };
      const svcs = status.services.slice().sort((a, b) => (order[a.state] - order[b.state]) || a.name.localeCompare(b.name));
      $("services").innerHTML = svcs.map((s) => card(s, history.services[s.name], now)).join("") || `<p class="muted">no services yet: configure [[services]] or send flushes</p>`;
      const counts = {};
      for (const s of svcs) counts[s.state] = (counts[s.state] || 0) + 1;
      $("summary").innerHTML = Object.keys(STATES).filter((k) => counts[k]).map((k) => `<span><span class="badge ${k}">${STATES[k]}</span> ${counts[k]}</span>`).join("");
      alerts(history.alerts || [], now);
      proxies(status.proxies || [], now);
      silences(status.silences, status.maintenance, now);
      $("updated").textContent = "updated " + clock(now) + " · collector " + status.version;
      $("error").hidden = true;
      document.body.dataset.loaded = "yes";
    } catch (e) {
      $("error").hidden = false;
      $("error").textContent = "Cannot reach the collector: " + e.message + " (retrying every 5 s)";
    }
  }
  refresh();
  setInterval(refresh, 5000);
})();
