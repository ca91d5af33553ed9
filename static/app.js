// Admin dashboard for the alert API: polls GET /alerts and GET /stats, triages with PATCH /alerts/{id}.
// Every value that comes from the API is written with textContent or as an attribute value, never
// parsed as HTML, so a wallet id or reason such as `<img src=x onerror=...>` shows literally; its
// control and bidi characters are shown escaped (`visible`).
"use strict";

(() => {
  const POLL_MS = 2000;
  const PAGE_SIZE = 50;
  const HISTORY_PAGE = 500;  // the API's largest page
  const FILTER_DEBOUNCE_MS = 300;
  const KEY_STORAGE = "alertApiKey";
  const STATUSES = ["open", "acknowledged", "resolved", "false_positive"];
  const SEVERITIES = ["critical", "high", "medium", "low"];
  const STATUS_LABELS = {
    open: "Open", acknowledged: "Acknowledged", resolved: "Resolved", false_positive: "False positive",
  };
  // Mirrors the API's allowed transitions so the page only offers what the server accepts.
  const TRANSITIONS = {
    open: ["acknowledged", "resolved", "false_positive"],
    acknowledged: ["resolved", "false_positive"],
  };
  const MEDIUM_SCORE = 0.9;

  const state = {
    items: [],
    wanted: PAGE_SIZE,
    hasMore: false,
    knownIds: null,        // ids seen so far; null until the first load so nothing flashes on open
    tableSig: "",
    statsSig: "",
    stats: null,
    selected: null,        // the alert shown in the detail panel
    history: null,         // {id, total, entries}: the selected alert's whole history, once loaded
    walletSig: "",
    notifySig: "",
    timer: null,           // the next scheduled poll
    inflight: false,
    again: false,          // a filter change or triage arrived mid-poll: poll again at once
    generation: 0,         // bumped on filter change so a slow, stale answer is dropped
    locked: false,
  };

  const $ = (id) => document.getElementById(id);

  class AuthError extends Error {}

  // ---- small DOM helpers (text only) ----------------------------------------------------------

  // Control characters and the invisible ones that reorder or hide text (bidi overrides and
  // isolates, zero-width marks): shown as \uXXXX, so "invoice\u202Efdp.exe" cannot pass for
  // "invoiceexe.pdf".
  const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

  function visible(value) {
    return String(value).replace(
      INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
  }

  // A note keeps its line breaks; everything else in it is shown as `visible` shows it.
  function visibleLines(value) {
    return String(value).split("\n").map(visible).join("\n");
  }

  function el(tag, opts = {}, children = []) {
    const node = document.createElement(tag);
    if (opts.cls) node.className = opts.cls;
    if (opts.text !== undefined && opts.text !== null) {
      node.textContent = opts.lines ? visibleLines(opts.text) : visible(opts.text);
    }
    if (opts.title) node.title = visible(opts.title);
    for (const [k, v] of Object.entries(opts.attrs || {})) node.setAttribute(k, String(v));
    for (const child of children) node.append(child);
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // Class names built from data go through an allow-list.
  const sevClass = (s) => (SEVERITIES.includes(s) ? s : "unknown");
  const statusClass = (s) => (STATUSES.includes(s) ? s : "unknown");
  const statusLabel = (s) => STATUS_LABELS[s] || String(s ?? "—");
  const capital = (s) => (s ? String(s).charAt(0).toUpperCase() + String(s).slice(1) : "—");

  // ---- formatting -----------------------------------------------------------------------------

  const amountFmt = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const countFmt = new Intl.NumberFormat("en-US");

  function fmtAmount(v) {
    return typeof v === "number" && Number.isFinite(v) ? amountFmt.format(v) : "—";
  }
  function fmtScore(v) {
    return typeof v === "number" && Number.isFinite(v) ? v.toFixed(3) : "—";
  }

  // A timestamp without an offset is UTC (data contract); Date.parse would read it as local time.
  function parseTime(value) {
    if (!value) return null;
    let s = String(value).trim();
    if (/^\d{4}-\d\d-\d\d \d/.test(s)) s = s.replace(" ", "T");
    if (/T\d\d:\d\d/.test(s) && !/(Z|[+-]\d\d:?\d\d)$/i.test(s)) s += "Z";
    const t = Date.parse(s);
    return Number.isNaN(t) ? null : new Date(t);
  }
  function fmtTime(value) {
    const d = parseTime(value);
    if (!d) return value ? String(value) : "—";
    return d.toISOString().slice(0, 19).replace("T", " ");
  }
  function fmtMinute(value) {
    const d = parseTime(value);
    if (!d) return value ? String(value) : "—";
    return d.toISOString().slice(0, 16).replace("T", " ");
  }
  function fmtHour(value) {
    const d = parseTime(value);
    return d ? d.toISOString().slice(11, 16) : "";
  }

  function splitReasons(reasons) {
    if (!reasons) return [];
    return String(reasons).split(";").map((r) => r.trim()).filter(Boolean);
  }

  // ---- API ------------------------------------------------------------------------------------

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  function errorText(body, status) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
    return `HTTP ${status}`;
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json" };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const key = apiKey();
    if (key) headers["X-API-Key"] = key;
    const resp = await fetch(path, { ...options, headers, cache: "no-store" });
    if (resp.status === 401) throw new AuthError("API key required");
    let body = null;
    try {
      body = await resp.json();
    } catch {
      body = null;
    }
    if (!resp.ok) {
      const err = new Error(errorText(body, resp.status));
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  // ---- filters --------------------------------------------------------------------------------

  function readFilters() {
    const params = new URLSearchParams();
    const status = $("f-status").value;
    const severity = $("f-severity").value;
    const wallet = $("f-wallet").value.trim();
    const minInput = $("f-min-score");
    const minRaw = minInput.value.trim();
    if (status) params.set("status", status);
    if (severity) params.set("severity", severity);
    if (wallet) params.set("wallet_id", wallet);
    const min = Number(minRaw);
    const minOk = minRaw === "" || (Number.isFinite(min) && min >= 0 && min <= 1);
    minInput.classList.toggle("invalid", !minOk);
    if (minRaw !== "" && minOk) params.set("min_score", String(min));
    return params;
  }

  function writeFiltersToUrl(params) {
    const hash = params.toString();
    history.replaceState(null, "", hash ? `#${hash}` : location.pathname + location.search);
  }

  function readFiltersFromUrl() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (STATUSES.includes(params.get("status"))) $("f-status").value = params.get("status");
    if (SEVERITIES.includes(params.get("severity"))) $("f-severity").value = params.get("severity");
    if (params.get("min_score")) $("f-min-score").value = params.get("min_score");
    if (params.get("wallet_id")) $("f-wallet").value = params.get("wallet_id");
  }

  function filtersChanged() {
    state.generation += 1;
    state.wanted = PAGE_SIZE;
    writeFiltersToUrl(readFilters());
    refresh();
  }

  let filterTimer = null;
  function filtersChangedSoon() {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(filtersChanged, FILTER_DEBOUNCE_MS);
  }

  // ---- polling --------------------------------------------------------------------------------

  async function fetchAlerts(filters) {
    // Follows next_cursor until `wanted` rows are in, so "Show more" works whatever page cap the API has.
    const items = [];
    let cursor = null;
    for (;;) {
      const params = new URLSearchParams(filters);
      params.set("limit", String(Math.min(PAGE_SIZE, state.wanted - items.length)));
      if (cursor) params.set("cursor", cursor);
      const page = await api(`/alerts?${params}`);
      items.push(...(page.items || []));
      cursor = page.next_cursor || null;
      if (!cursor || items.length >= state.wanted) return { items, hasMore: Boolean(cursor) };
    }
  }

  // One poll at a time: the next is scheduled POLL_MS after this one finishes, so a slow API
  // gets fewer requests, never a pile of overlapping ones.
  async function refresh() {
    if (state.locked) return;
    if (state.inflight) {
      state.again = true;
      return;
    }
    stopPolling();
    state.inflight = true;
    const generation = state.generation;
    try {
      const filters = readFilters();
      const [alerts, stats, subs, failed] = await Promise.all([
        fetchAlerts(filters), api("/stats"), api("/webhooks"),
        api(`/deliveries?status=failed&limit=${PAGE_SIZE}`)]);
      if (generation === state.generation && !state.locked) {
        state.items = alerts.items;
        state.hasMore = alerts.hasMore;
        renderTable();
        renderStats(stats);
        renderNotifications(subs.items || [], failed.items || []);
        if (state.selected) await refreshDetail();
        setLive("ok");
        hideBanner();
      }
    } catch (err) {
      if (err instanceof AuthError) lock();
      else {
        setLive("error");
        showBanner(`Could not reach the alert API (${err.message}). Retrying every ${POLL_MS / 1000} s.`);
      }
    } finally {
      state.inflight = false;
      if (state.again) {
        state.again = false;
        refresh();
      } else if (!state.locked) {
        state.timer = setTimeout(refresh, POLL_MS);
      }
    }
  }

  function startPolling() {
    refresh();
  }

  function stopPolling() {
    clearTimeout(state.timer);
    state.timer = null;
  }

  const LIVE_TEXT = { ok: "Live", locked: "Locked · API key needed", error: "Connection lost · retrying" };

  function setLive(kind) {
    $("live").dataset.state = kind;
    // Only a change of state is written to the live region, so a screen reader is not told
    // the time of every poll; the time sits beside it.
    if ($("live-text").textContent !== LIVE_TEXT[kind]) $("live-text").textContent = LIVE_TEXT[kind];
    $("live-time").textContent = kind === "ok" ? `updated ${new Date().toISOString().slice(11, 19)} UTC` : "";
  }

  function showBanner(text) {
    const b = $("banner");
    text = visible(text);
    if (b.textContent !== text) b.textContent = text;  // role=alert: announce once, not every poll
    b.hidden = false;
  }
  function hideBanner() {
    $("banner").hidden = true;
  }

  // ---- table ----------------------------------------------------------------------------------

  function alertRow(a, isNew) {
    const sev = sevClass(a.severity);
    const tr = el("tr", { cls: `row sev-${sev}` });
    tr.dataset.id = String(a.id);
    tr.tabIndex = 0;
    if (isNew) tr.classList.add("is-new");
    if (state.selected && state.selected.id === a.id) tr.classList.add("selected");
    const reasons = a.reasons || "";
    tr.append(
      el("td", {}, [el("span", { cls: `pill sev ${sev}`, text: capital(a.severity) })]),
      el("td", { cls: "mono wallet", text: a.wallet_id, title: a.wallet_id }),
      el("td", { cls: "mono tx", text: a.transaction_id, title: a.transaction_id }),
      el("td", { cls: "num score", text: fmtScore(a.fraud_score) }),
      el("td", { cls: "num", text: fmtAmount(a.amount) }),
      el("td", { cls: "type", text: a.type || "—" }),
      el("td", {
        cls: "time", text: fmtMinute(a.timestamp || a.created_at),
        title: `transaction ${a.timestamp || "—"} · received ${a.created_at || "—"}`,
      }),
      el("td", { cls: "reasons", text: reasons || "—", title: reasons }),
      el("td", {}, [el("span", { cls: `pill status ${statusClass(a.status)}`, text: statusLabel(a.status) })]),
    );
    return tr;
  }

  function renderTable() {
    const sig = JSON.stringify([state.items, state.selected && state.selected.id]);
    if (sig === state.tableSig) return;
    state.tableSig = sig;
    const known = state.knownIds;
    const body = $("alerts-body");
    // Rows are rebuilt on change; keep keyboard focus on the same alert.
    const focused = body.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    const rows = state.items.map((a) => alertRow(a, known !== null && !known.has(a.id)));
    body.replaceChildren(...rows);
    if (focused) {
      const again = rows.find((r) => r.dataset.id === focused);
      if (again) again.focus({ preventScroll: true });
    }
    state.knownIds = new Set([...(known || []), ...state.items.map((a) => a.id)]);

    const filtered = readFilters().toString() !== "";
    const empty = $("empty");
    empty.hidden = state.items.length > 0;
    empty.textContent = filtered
      ? "No alerts match these filters."
      : "No alerts yet. Alerts the detector sends appear here within seconds.";
    $("more").hidden = !state.hasMore;
    const n = state.items.length;
    $("table-info").textContent =
      n === 0 ? "" : `${countFmt.format(n)} alert${n === 1 ? "" : "s"} shown${state.hasMore ? " · more available" : ""}`;
  }

  function clearData() {
    state.items = [];
    state.hasMore = false;
    state.knownIds = null;
    state.tableSig = "";
    state.statsSig = "";
    state.stats = null;
    $("alerts-body").replaceChildren();
    $("empty").hidden = true;
    $("more").hidden = true;
    $("table-info").textContent = "";
    state.notifySig = "";
    for (const id of ["status-counters", "severity-counters", "chart-hourly", "chart-scores",
                      "n-subs", "n-failed"]) {
      $(id).replaceChildren();
    }
    closeDetail();
  }

  // ---- stats and charts -----------------------------------------------------------------------

  function counter(label, value, cls) {
    const emphasis = cls === "total" ? "total" : "";
    const dt = el("dt", { cls: emphasis }, [el("span", { cls: `dot ${cls}`, attrs: { "aria-hidden": "true" } }), label]);
    const dd = el("dd", { cls: emphasis, text: countFmt.format(Number(value) || 0) });
    return [dt, dd];
  }

  function renderStats(stats, force = false) {
    const sig = JSON.stringify(stats);
    if (!force && sig === state.statsSig) return;
    state.statsSig = sig;
    state.stats = stats;
    const byStatus = stats.by_status || {};
    const bySev = stats.by_severity || {};
    $("status-counters").replaceChildren(
      ...counter("Total", stats.total, "total"),
      ...STATUSES.flatMap((s) => counter(statusLabel(s), byStatus[s], `status-${s}`)),
    );
    $("severity-counters").replaceChildren(
      ...SEVERITIES.flatMap((s) => counter(capital(s), bySev[s], `sev-${s}`)),
    );
    const hours = stats.per_hour || [];
    barChart($("chart-hourly"), hours.map((h) => ({
      value: Number(h.count) || 0,
      cls: "bar",
      tip: `${fmtTime(h.hour).slice(0, 16)} UTC: ${h.count} alert${h.count === 1 ? "" : "s"}`,
    })), hours.map((h, i) => ({ index: i, label: i % 6 === 0 ? fmtHour(h.hour) : "" })));
    const bins = stats.score_histogram || [];
    barChart($("chart-scores"), bins.map((b) => ({
      value: Number(b.count) || 0,
      cls: Number(b.start) >= MEDIUM_SCORE - 1e-9 ? "bar bar-hot" : "bar",
      tip: `score ${Number(b.start).toFixed(2)}–${Number(b.end).toFixed(2)}: ${b.count}`,
    })), bins.map((b, i) => ({
      index: i,
      label: i % 5 === 0 ? Number(b.start).toFixed(2).replace(/0$/, "") : "",
    })), bins.length ? "1" : "");
  }

  // Small dependency-free SVG bar chart sized to its container in CSS pixels, so text stays crisp.
  function barChart(container, bars, ticks, endLabel = "") {
    const width = Math.max(160, container.clientWidth || 300);
    const height = Math.max(80, container.clientHeight || 96);
    const pad = { top: 14, right: 6, bottom: 16, left: 6 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "chart-svg" });
    const max = Math.max(1, ...bars.map((b) => b.value));
    root.append(svg("text", { x: pad.left, y: 10, class: "axis-label" }, `max ${countFmt.format(max)}`));
    root.append(svg("line", {
      x1: pad.left, x2: width - pad.right, y1: pad.top, y2: pad.top, class: "gridline",
    }));
    const step = bars.length ? plotW / bars.length : plotW;
    const gap = Math.min(2, step * 0.2);
    bars.forEach((b, i) => {
      const h = b.value > 0 ? Math.max(1.5, (b.value / max) * plotH) : 0;
      const x = pad.left + i * step + gap / 2;
      const group = svg("g");
      // A full-height transparent hit area keeps tooltips usable on empty or tiny bars.
      group.append(svg("rect", { x, y: pad.top, width: step - gap, height: plotH, class: "hit" }));
      group.append(svg("rect", {
        x, y: pad.top + plotH - h, width: Math.max(0.5, step - gap), height: h, class: b.cls, rx: 1,
      }));
      group.append(svg("title", {}, b.tip));
      root.append(group);
    });
    root.append(svg("line", {
      x1: pad.left, x2: width - pad.right, y1: pad.top + plotH + 0.5, y2: pad.top + plotH + 0.5, class: "baseline",
    }));
    for (const t of ticks) {
      if (!t.label) continue;
      root.append(svg("text", {
        x: pad.left + t.index * step, y: height - 3, class: "axis-label",
      }, t.label));
    }
    if (endLabel) {
      root.append(svg("text", { x: width - pad.right, y: height - 3, class: "axis-label end" }, endLabel));
    }
    container.replaceChildren(root);
  }

  // ---- detail panel ---------------------------------------------------------------------------

  function field(label, value, cls = "") {
    return [el("dt", { text: label }),
      el("dd", { cls, text: value ?? "—", title: value ?? "", lines: cls === "note" })];
  }

  function renderDetail(a) {
    state.selected = a;
    $("d-id").textContent = `#${a.id}`;
    $("d-title").textContent = visible(a.wallet_id);
    $("d-title").title = visible(a.wallet_id);
    const sev = $("d-severity");
    sev.className = `pill sev ${sevClass(a.severity)}`;
    sev.textContent = `${capital(a.severity)} · score ${fmtScore(a.fraud_score)}`;
    const st = $("d-status");
    st.className = `pill status ${statusClass(a.status)}`;
    st.textContent = statusLabel(a.status);

    $("d-fields").replaceChildren(
      ...field("Wallet", a.wallet_id, "mono"),
      ...field("Transaction", a.transaction_id, "mono"),
      ...field("Amount (USD)", fmtAmount(a.amount)),
      ...field("Type", a.type || "—"),
      ...field("Transaction time", fmtTime(a.timestamp)),
      ...field("Received", fmtTime(a.created_at)),
      ...field("Last change", fmtTime(a.updated_at)),
      ...field("Model", a.model_version || "—"),
      ...field("Note", a.note || "—", "note"),
    );

    const reasons = splitReasons(a.reasons);
    $("d-reasons").replaceChildren(
      ...(reasons.length ? reasons.map((r) => el("li", { text: r })) : [el("li", { cls: "muted", text: "None given" })]),
    );

    const allowed = TRANSITIONS[a.status] || [];
    for (const btn of $("d-actions").querySelectorAll("button[data-status]")) {
      btn.hidden = !allowed.includes(btn.dataset.status);
    }
    $("d-note").hidden = allowed.length === 0;
    $("d-actions").querySelector("label[for=d-note]").hidden = allowed.length === 0;
    $("d-final").hidden = allowed.length > 0;

    renderHistory(a);
  }

  // The alert carries its latest entries (oldest first); the whole history, once asked for, is
  // shown until the alert changes again.
  function renderHistory(a) {
    const full = state.history && state.history.id === a.id && state.history.total === a.history_total
      ? state.history.entries : null;
    const entries = full || (Array.isArray(a.history) ? a.history.slice().reverse() : []);
    $("d-history").replaceChildren(...entries.map((h) => el("li", {}, [
      el("span", { cls: `pill status ${statusClass(h.status)}`, text: statusLabel(h.status) }),
      el("span", { cls: "history-time", text: `${fmtTime(h.at)} UTC` }),
      ...(h.note ? [el("p", { cls: "history-note", text: h.note, lines: true })] : []),
    ])));
    const hidden = (a.history_total || 0) - entries.length;
    const more = $("d-history-more");
    more.hidden = hidden <= 0;
    more.textContent = `Show ${hidden.toLocaleString("en-US")} earlier ${hidden === 1 ? "entry" : "entries"}`;
  }

  async function loadHistory() {
    const a = state.selected;
    if (!a || !a.id) return;
    const entries = [];
    let cursor = null;
    do {
      const params = new URLSearchParams({ limit: String(HISTORY_PAGE) });
      if (cursor) params.set("cursor", cursor);
      const page = await api(`/alerts/${encodeURIComponent(a.id)}/history?${params}`);
      entries.push(...(page.items || []));
      cursor = page.next_cursor;
    } while (cursor);
    if (!state.selected || state.selected.id !== a.id) return;
    state.history = { id: a.id, total: entries.length, entries };
    renderHistory(state.selected);
  }

  function renderWalletAlerts(current, items) {
    const others = items.filter((x) => x.id !== current.id);
    const sig = JSON.stringify(others);
    if (sig === state.walletSig) return;
    state.walletSig = sig;
    $("d-wallet-alerts").replaceChildren(...others.map((x) => {
      const tr = el("tr", { cls: `row sev-${sevClass(x.severity)}` });
      tr.dataset.id = String(x.id);
      tr.tabIndex = 0;
      tr.append(
        el("td", { text: fmtTime(x.timestamp || x.created_at) }),
        el("td", { cls: "mono", text: x.transaction_id, title: x.transaction_id }),
        el("td", { cls: "num", text: fmtScore(x.fraud_score) }),
        el("td", {}, [el("span", { cls: `pill status ${statusClass(x.status)}`, text: statusLabel(x.status) })]),
      );
      return tr;
    }));
    $("d-wallet-empty").hidden = others.length > 0;
  }

  async function loadWalletAlerts(a) {
    const params = new URLSearchParams({ wallet_id: a.wallet_id, limit: String(PAGE_SIZE) });
    const page = await api(`/alerts?${params}`);
    if (state.selected && state.selected.id === a.id) renderWalletAlerts(a, page.items || []);
  }

  async function openDetail(id) {
    const cached = state.items.find((x) => x.id === id);
    const panel = $("detail");
    const wasHidden = panel.hidden;
    panel.hidden = false;
    document.body.classList.add("detail-open");
    $("d-error").hidden = true;
    if (!state.selected || state.selected.id !== id) {
      $("d-note").value = "";
      state.walletSig = "";
      $("d-wallet-alerts").replaceChildren();
      $("d-wallet-empty").hidden = true;
    }
    if (cached) renderDetail(cached);
    else state.selected = { id };
    renderTable();
    // The panel comes after the table in the document: take keyboard focus there so the triage
    // buttons are a Tab away, not behind every row.
    if (wasHidden) $("d-close").focus();
    try {
      await refreshDetail();
    } catch (err) {
      if (err instanceof AuthError) lock();
      else showDetailError(err.message);
    }
  }

  async function refreshDetail() {
    const id = state.selected.id;
    let a;
    try {
      a = await api(`/alerts/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status === 404) {
        showDetailError("This alert no longer exists.");
        return;
      }
      throw err;
    }
    if (!state.selected || state.selected.id !== id) return;
    renderDetail(a);
    await loadWalletAlerts(a);
  }

  function closeDetail() {
    const selectedId = state.selected ? String(state.selected.id) : null;
    const focusWasInPanel = $("detail").contains(document.activeElement);
    state.selected = null;
    state.walletSig = "";
    $("detail").hidden = true;
    document.body.classList.remove("detail-open");
    if (selectedId === null) return;
    renderTable();
    // Back to the row the panel was opened from, so keyboard users keep their place.
    const row = [...$("alerts-body").rows].find((r) => r.dataset.id === selectedId);
    if (focusWasInPanel && row) row.focus();
  }

  function showDetailError(text) {
    const e = $("d-error");
    e.textContent = visible(text);
    e.hidden = false;
  }

  async function changeStatus(status) {
    const a = state.selected;
    if (!a) return;
    const note = $("d-note").value.trim();
    const buttons = $("d-actions").querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    $("d-error").hidden = true;
    try {
      const updated = await api(`/alerts/${encodeURIComponent(a.id)}`, {
        method: "PATCH",
        body: JSON.stringify({ status, note: note || null }),
      });
      $("d-note").value = "";
      // Show the change at once; the next poll confirms it (and drops the row if a filter excludes it).
      state.items = state.items.map((x) => (x.id === updated.id ? updated : x));
      renderDetail(updated);
      renderTable();
      refresh();
    } catch (err) {
      if (err instanceof AuthError) lock();
      else if (err.status === 409) {
        showDetailError(`Not allowed: ${err.message}. The alert may have been changed by someone else.`);
        refreshDetail().catch(() => {});
      } else showDetailError(`Could not save: ${err.message}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // ---- API key --------------------------------------------------------------------------------

  function lock() {
    const hadKey = Boolean(apiKey());
    state.locked = true;
    stopPolling();
    clearData();
    setLive("locked");
    hideBanner();
    $("forget-key").hidden = true;
    const error = $("key-error");
    error.textContent = hadKey ? "The key was rejected. Enter the current key." : "";
    error.hidden = !hadKey;
    if (hadKey) sessionStorage.removeItem(KEY_STORAGE);
    $("key-overlay").hidden = false;
    $("key-input").value = "";
    $("key-input").focus();
  }

  async function submitKey(event) {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    try {
      await api("/stats");
    } catch (err) {
      if (err instanceof AuthError) {
        sessionStorage.removeItem(KEY_STORAGE);
        const error = $("key-error");
        error.textContent = "That key was rejected.";
        error.hidden = false;
        $("key-input").select();
        return;
      }
      // Not a key problem: unlock and let the poller report the connection trouble.
    }
    state.locked = false;
    $("key-overlay").hidden = true;
    $("forget-key").hidden = false;
    startPolling();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_STORAGE);
    $("forget-key").hidden = true;
    lock();
  }

  // ---- notifications: subscriptions and failed deliveries ----------------------------------------

  function renderNotifications(subs, failed) {
    const sig = JSON.stringify([subs, failed]);
    if (sig === state.notifySig) return;
    state.notifySig = sig;
    const paused = subs.filter((s) => !s.active).length;
    $("n-summary").textContent = `${subs.length} subscription${subs.length === 1 ? "" : "s"}` +
      (paused ? `, ${paused} paused` : "") + `, ${failed.length} failed deliver${failed.length === 1 ? "y" : "ies"}`;
    $("n-subs").replaceChildren(...subs.map((s) => el("tr", { cls: s.active ? "" : "paused" }, [
      el("td", { text: `#${s.id}` }),
      el("td", { cls: "mono", text: s.url, title: s.url }),
      el("td", { text: s.events.join(", ") }),
      el("td", { text: s.min_severity }),
      el("td", { text: s.active ? "active" : "paused", title: s.paused_reason || "" }),
      el("td", { cls: "num", text: String(s.pending) }),
      el("td", { cls: "num", text: String(s.failed) }),
    ])));
    $("n-subs-empty").hidden = subs.length > 0;
    $("n-failed").replaceChildren(...failed.map((d) => {
      const retry = el("button", { cls: "btn btn-ghost btn-small", text: "Retry",
        attrs: { type: "button", "data-retry": d.id } });
      return el("tr", {}, [
        el("td", { text: fmtTime(d.created_at) }),
        el("td", { text: `#${d.alert_id}` }),
        el("td", { text: d.event }),
        el("td", { text: `#${d.subscription_id}` }),
        el("td", { cls: "num", text: String(d.attempts) }),
        el("td", { text: d.last_error || "", title: d.last_error || "" }),
        el("td", {}, [retry]),
      ]);
    }));
    $("n-failed-empty").hidden = failed.length > 0;
  }

  async function retryDelivery(id) {
    $("n-error").hidden = true;
    try {
      await api(`/deliveries/${encodeURIComponent(id)}/retry`, { method: "POST" });
      refresh();
    } catch (err) {
      if (err instanceof AuthError) lock();
      else {
        $("n-error").textContent = visible(`Could not retry ${id}: ${err.message}`);
        $("n-error").hidden = false;
      }
    }
  }

  // ---- wiring ---------------------------------------------------------------------------------

  function init() {
    readFiltersFromUrl();
    $("filters").addEventListener("submit", (e) => { e.preventDefault(); filtersChanged(); });
    $("f-status").addEventListener("change", filtersChanged);
    $("f-severity").addEventListener("change", filtersChanged);
    $("f-min-score").addEventListener("input", filtersChangedSoon);
    $("f-wallet").addEventListener("input", filtersChangedSoon);
    $("f-clear").addEventListener("click", () => {
      $("filters").reset();
      filtersChanged();
    });
    $("more").addEventListener("click", () => {
      state.wanted += PAGE_SIZE;
      refresh();
    });

    const openFromEvent = (e) => {
      const tr = e.target.closest("tr[data-id]");
      if (tr) openDetail(Number(tr.dataset.id));
    };
    for (const body of [$("alerts-body"), $("d-wallet-alerts")]) {
      body.addEventListener("click", openFromEvent);
      body.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          openFromEvent(e);
        }
      });
    }
    $("d-close").addEventListener("click", closeDetail);
    $("d-history-more").addEventListener("click", () => {
      loadHistory().catch((err) => {
        if (err instanceof AuthError) lock();
        else showDetailError(`Could not load the history: ${err.message}`);
      });
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !$("detail").hidden) closeDetail();
    });
    $("d-actions").addEventListener("submit", (e) => e.preventDefault());
    for (const btn of $("d-actions").querySelectorAll("button[data-status]")) {
      btn.addEventListener("click", () => changeStatus(btn.dataset.status));
    }
    $("d-filter-wallet").addEventListener("click", () => {
      if (!state.selected) return;
      $("f-wallet").value = state.selected.wallet_id;
      filtersChanged();
    });

    $("n-failed").addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-retry]");
      if (btn) retryDelivery(btn.dataset.retry);
    });

    $("key-form").addEventListener("submit", submitKey);
    $("forget-key").addEventListener("click", forgetKey);
    $("forget-key").hidden = !apiKey();

    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { if (state.stats) renderStats(state.stats, true); }, 150);
    });

    startPolling();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
