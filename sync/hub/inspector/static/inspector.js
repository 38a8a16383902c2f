// The hub inspector: polls api/snapshot and api/tenant every second and
// renders them. Everything from the hub is written with textContent, never
// as HTML: streams, types and reasons come from devices.
"use strict";

(function () {
  const refreshMs = 1000;
  const eventLimit = 50;
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  let selected = decodeURIComponent((location.hash.match(/^#tenant=(.*)$/) || [])[1] || "") || params.get("tenant") || "";
  let polls = 0;

  const $ = (id) => document.getElementById(id);

  async function get(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const res = await fetch(path, { headers, cache: "no-store" });
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error((body && body.error) || res.status + " " + res.statusText);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function fill(table, rows, render, empty) {
    const tbody = $(table).tBodies[0];
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = document.createElement("tr");
      render(tr, r);
      frag.appendChild(tr);
    }
    if (rows.length === 0 && empty) {
      const tr = document.createElement("tr");
      const td = cell(tr, empty, "empty");
      td.colSpan = $(table).tHead.rows[0].cells.length;
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
    return (n / (1 << 20)).toFixed(1) + " MiB";
  }

  function ago(iso, now) {
    const t = Date.parse(iso);
    if (!t || t <= 0) return "";
    const s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    return Math.floor(s / 3600) + "h ago";
  }

  function time(iso) {
    const t = Date.parse(iso);
    return t ? new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
  }

  function select(tenant) {
    selected = tenant;
    history.replaceState(null, "", location.pathname + location.search + "#tenant=" + encodeURIComponent(tenant));
    refresh();
  }

  function renderSnapshot(s) {
    $("node").textContent = s.node;
    $("connections").textContent = s.connections;
    $("outbound").textContent = bytes(s.outbound_bytes) + " of " + bytes(s.send_bytes);
    const tenants = s.tenants || [];
    if (!selected && tenants.length > 0) selected = tenants[0].tenant;
    fill("tenants", tenants, (tr, t) => {
      tr.dataset.tenant = t.tenant;
      if (t.tenant === selected) tr.className = "selected";
      tr.addEventListener("click", () => select(t.tenant));
      cell(tr, t.tenant);
      cell(tr, t.open ? "yes" : "");
      cell(tr, t.connections, "num");
      cell(tr, t.idle ? "idle" : t.head_error ? "error: " + t.head_error : t.head, "num");
      cell(tr, t.max_lag, "num" + (t.max_lag > 0 ? " lagging" : ""));
      cell(tr, t.rejections, "num");
    });
    $("tenants-empty").hidden = tenants.length > 0;
  }

  function renderTenant(t, now) {
    $("tenant").hidden = false;
    $("tenant-name").textContent = t.tenant;
    $("head").textContent = t.head;
    $("generation").textContent = t.generation || "not reported by this ledger";
    $("digest").textContent = t.digest;
    $("rejections-total").textContent = t.rejections_total;
    fill("devices", t.devices, (tr, d) => {
      tr.dataset.client = d.client;
      cell(tr, d.client);
      cell(tr, d.subject);
      cell(tr, d.node);
      cell(tr, d.cursor, "num cursor");
      cell(tr, d.lag, "num lag" + (d.lag > 0 ? " lagging" : ""));
      cell(tr, d.live ? "live" : "catching up");
      cell(tr, d.pushed, "num");
      cell(tr, d.rejected + (d.deferred ? " (+" + d.deferred + " deferred)" : ""), "num");
      cell(tr, ago(d.last_seen, now));
      cell(tr, d.app);
      cell(tr, d.version, "num");
      cell(tr, d.remote, "mono");
    }, "No device of this tenant is connected to this node.");
    $("devices-more").hidden = t.devices_total <= t.devices.length;
    $("devices-more").textContent = "Showing " + t.devices.length + " of " + t.devices_total + " devices.";
    fill("events", t.events, (tr, e) => {
      tr.dataset.position = e.position;
      cell(tr, e.position, "num");
      cell(tr, e.stream);
      cell(tr, e.type, "type");
      cell(tr, e.origin);
      cell(tr, time(e.created));
      cell(tr, e.schema, "num");
      cell(tr, e.bytes, "num");
      const flags = cell(tr, "");
      for (const [on, name] of [[e.outdated, "outdated"], [e.unknown, "unknown type"], [e.revived, "revived #" + e.revived]]) {
        if (!on) continue;
        const span = document.createElement("span");
        span.className = "flag";
        span.textContent = name;
        flags.appendChild(span);
      }
      cell(tr, e.id, "mono");
    }, "The ledger is empty.");
    fill("rejections", t.rejections, (tr, r) => {
      cell(tr, time(r.at));
      cell(tr, r.client);
      cell(tr, r.stream);
      cell(tr, r.type);
      cell(tr, r.code, "code" + (r.deferred ? " deferred" : ""));
      cell(tr, r.reason, "reason");
      cell(tr, r.id, "mono");
    }, "No rejection recorded on this node.");
  }

  let timer = 0;
  let busy = false;
  let again = false;
  // refresh polls once and schedules the next poll; a call while a poll
  // is in flight makes that poll run again at once, so one loop runs.
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    clearTimeout(timer);
    await poll();
    busy = false;
    if (again) { again = false; refresh(); return; }
    timer = setTimeout(refresh, refreshMs);
  }

  async function poll() {
    const status = $("status");
    try {
      const snap = await get("api/snapshot");
      renderSnapshot(snap);
      if (selected) {
        try {
          const t = await get("api/tenant?tenant=" + encodeURIComponent(selected) + "&limit=" + eventLimit);
          renderTenant(t, Date.parse(snap.time) || Date.now());
        } catch (e) {
          if (e.status !== 404) throw e;
          $("tenant").hidden = true; // gone from this node
        }
      }
      polls++;
      document.body.dataset.polls = polls;
      $("updated").textContent = time(snap.time);
      status.textContent = "live: refreshing every second";
      status.className = "status";
    } catch (e) {
      status.textContent = (e.status === 401 ? "unauthorized: open this page with ?token=ADMIN_TOKEN" : "error: " + e.message);
      status.className = "status error";
    }
  }

  window.addEventListener("hashchange", () => {
    const m = location.hash.match(/^#tenant=(.*)$/);
    if (m) { selected = decodeURIComponent(m[1]); refresh(); }
  });
  refresh();
})();
