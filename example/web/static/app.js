// The example's only script: it sends every action through the JSON API
// with the CSRF token, and keeps this tab in sync with the session's other
// tabs through /api/events (Server-Sent Events).
"use strict";
(() => {
  const $ = (sel) => document.querySelector(sel);
  const meta = $('meta[name="csrf-token"]');
  const dashboard = document.body.classList.contains("dashboard");

  async function api(method, path, body) {
    const headers = { "X-CSRF-Token": meta.content };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    return { ok: res.ok, status: res.status, data };
  }

  const toLogin = () => location.assign("/");
  // A visitor has no stored session, hence no event stream: the tabs of
  // one browser tell each other about a login directly.
  const tabs = window.BroadcastChannel ? new BroadcastChannel("sessions-example") : null;
  // An event about this session can reach this tab before the response
  // that caused it (a login's new cookie, a logout's fresh one) has reached
  // the browser's cookie jar. A request sent in that window carries the old
  // cookie, and its answer would replace the new one. So a tab that follows
  // another tab's action waits a moment first.
  const settle = (f, ms) => setTimeout(f, ms);
  let acting = false; // this tab is logging in or out itself: its own events are expected

  // --- rendering -------------------------------------------------------
  // Long form for the session's facts, short form in lists.
  const fmt = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  };
  const fmtShort = (iso) => {
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString();
    return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  };
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      if (t.dateTime) t.textContent = t.closest(".facts") ? fmt(t.dateTime) : fmtShort(t.dateTime);
    });
  }
  function device(ua) {
    if (!ua) return "Unknown device";
    const browser = [["Edg/", "Edge"], ["OPR/", "Opera"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"],
      ["Chromium/", "Chromium"], ["Safari/", "Safari"], ["curl/", "curl"], ["Go-http-client", "Go client"]]
      .find(([k]) => ua.includes(k));
    const os = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Windows", "Windows"],
      ["Mac OS X", "macOS"], ["CrOS", "ChromeOS"], ["Linux", "Linux"]].find(([k]) => ua.includes(k));
    let name = browser ? browser[1] : ua.split(/[ /]/)[0];
    if (browser && /Headless/.test(ua)) name = "Headless " + name;
    return os ? `${name} on ${os[1]}` : name;
  }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  const time = (iso) => el("time", { datetime: iso }, fmtShort(iso));
  const platformName = (id) => {
    const b = document.querySelector(`#platform-switcher button[data-id="${CSS.escape(String(id))}"]`);
    return b ? b.dataset.name : "platform " + id;
  };
  // What an audit record means, in words (the API gives kinds and handles).
  function describe(r) {
    switch (r.type) {
      case "login": return "Signed in";
      case "logout": return "Signed out";
      case "rotated": return "Session id renewed";
      case "platform_switched": return r.detail ? "Switched to " + platformName(r.detail) : "Platform cleared";
      case "revoked": return "Ended from another session";
      case "evicted": return "Ended: too many sessions";
      case "expired": return "Expired";
      case "created": return "Session started";
      case "rejected": return "Cookie refused (" + r.detail + ")";
      default: return r.detail || r.type;
    }
  }
  const where = (ua, ip) => [ua ? device(ua) : "", ip].filter(Boolean).join(" · ");

  function renderPlatform(p) {
    $("#platform-name").textContent = p ? p.name : "None selected";
    const type = $("#platform-type");
    type.textContent = p ? p.type : "";
    type.hidden = !p;
    document.querySelectorAll("#platform-switcher button").forEach((b) => {
      b.setAttribute("aria-pressed", String(!!p && Number(b.dataset.id) === p.id));
    });
  }
  function renderSessionFacts(s) {
    for (const [id, v] of [["#session-created", s.created_at], ["#session-last", s.last_activity], ["#session-expires", s.expires_at]]) {
      const t = $(id);
      if (t && v) { t.dateTime = v; t.textContent = fmt(v); }
    }
  }
  function renderSessions(list) {
    const body = $("#sessions");
    body.replaceChildren(...list.map((s) => el("tr", { "data-id": s.id, class: s.current ? "current" : "" },
      el("td", { class: "device", title: s.user_agent, "data-ua": s.user_agent }, device(s.user_agent)),
      el("td", {}, el("code", {}, s.ip)),
      el("td", {}, s.platform ? s.platform.name : el("span", { class: "muted" }, "none")),
      el("td", {}, time(s.created_at)),
      el("td", {}, time(s.last_activity)),
      el("td", { class: "actions" }, s.current
        ? el("span", { class: "pill this" }, "this session")
        : el("button", { type: "button", class: "revoke", "data-id": s.id }, "Revoke")))));
    $("#sessions-count").textContent = String(list.length);
  }
  function renderAudit(list) {
    const ol = $("#audit");
    if (!list.length) { ol.replaceChildren(el("li", { class: "empty muted" }, "No events yet.")); return; }
    ol.replaceChildren(...list.map((r) => el("li", {},
      time(r.time), el("span", { class: "pill kind-" + r.type }, r.type),
      el("span", { class: "detail", title: r.detail }, describe(r)),
      el("span", { class: "where muted", title: r.user_agent }, where(r.user_agent, r.ip)))));
  }

  // --- refreshing from the API ----------------------------------------
  async function refreshSession() {
    const r = await api("GET", "/api/session");
    if (!r.ok) return;
    if (!r.data.authenticated) { toLogin(); return; }
    meta.content = r.data.csrf_token;
    renderPlatform(r.data.platform);
    renderSessionFacts(r.data);
  }
  async function refreshLists() {
    const [s, a] = await Promise.all([api("GET", "/api/sessions"), api("GET", "/api/audit?limit=20")]);
    if (s.status === 401) { toLogin(); return; }
    if (s.ok) renderSessions(s.data);
    if (a.ok) renderAudit(a.data);
  }
  let pending = null;
  function refreshListsSoon() { // coalesce bursts of activity
    clearTimeout(pending);
    pending = setTimeout(refreshLists, 300);
  }

  // --- actions ---------------------------------------------------------
  function busy(button, fn) {
    return async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try { await fn(ev); } finally { button.disabled = false; }
    };
  }
  const form = $("#login-form");
  if (form) {
    form.addEventListener("submit", busy($("#login-submit"), async () => {
      // The session (and its CSRF token) may have changed since this page
      // was rendered, by another tab: take the current token.
      const cur = await api("GET", "/api/session");
      if (cur.ok) {
        if (cur.data.authenticated) { location.assign("/"); return; }
        meta.content = cur.data.csrf_token;
      }
      acting = true;
      const r = await api("POST", "/api/login", { username: $("#username").value, password: $("#password").value, remember: $("#remember").checked });
      if (r.ok) { if (tabs) tabs.postMessage("login"); location.assign("/"); return; }
      acting = false;
      const err = $("#login-error");
      err.textContent = r.status === 401 ? "Wrong username or password." : (r.data && r.data.error) || "Sign-in failed.";
      err.hidden = false;
    }));
  }
  if (dashboard) {
    localTimes(document);
    document.querySelectorAll("#sessions td.device").forEach((td) => { td.textContent = device(td.dataset.ua); });
    document.querySelectorAll("#audit .where[data-ua]").forEach((w) => { w.textContent = where(w.dataset.ua, w.textContent); });
    $("#logout").addEventListener("click", busy($("#logout"), async () => {
      acting = true;
      await api("POST", "/api/logout");
      toLogin();
    }));
    $("#logout-all").addEventListener("click", busy($("#logout-all"), async () => {
      acting = true;
      await api("POST", "/api/logout-all");
      toLogin();
    }));
    $("#platform-switcher").addEventListener("click", async (ev) => {
      const b = ev.target.closest("button[data-id]");
      if (!b) return;
      b.disabled = true;
      const r = await api("POST", "/api/platform", { platform_connection_id: Number(b.dataset.id) });
      b.disabled = false;
      if (r.status === 401) { toLogin(); return; }
      if (r.ok) { renderPlatform(r.data); refreshListsSoon(); }
    });
    $("#sessions").addEventListener("click", async (ev) => {
      const b = ev.target.closest("button.revoke");
      if (!b) return;
      b.disabled = true;
      const r = await api("DELETE", "/api/sessions/" + encodeURIComponent(b.dataset.id));
      if (r.status === 401) { toLogin(); return; }
      refreshLists();
    });
    $("#theme-toggle").addEventListener("click", async () => {
      const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      const r = await api("PUT", "/api/prefs/theme", next);
      if (r.ok) {
        document.documentElement.dataset.theme = next;
        $("#theme-toggle").textContent = (next === "dark" ? "Light" : "Dark") + " theme";
      }
    });
  }

  // --- the cross-tab stream --------------------------------------------
  // /api/events is ginsession/live's stream of this session's events.
  if (dashboard) {
    // Other sessions of the user (other devices) are not on this stream:
    // refresh the lists now and then, and when the tab comes back.
    setInterval(() => { if (!document.hidden) refreshLists(); }, 20000);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshLists(); });
  }
  if (!dashboard) {
    // A visitor has no stored session, so no stream of its own: a login in
    // another tab of this browser arrives on the broadcast channel, and is
    // checked for again when this tab is shown.
    if (tabs) tabs.onmessage = (m) => { if (m.data === "login") settle(() => location.assign("/"), 300); };
    document.addEventListener("visibilitychange", async () => {
      if (document.hidden) return;
      const r = await api("GET", "/api/session");
      if (r.ok && r.data.authenticated) location.assign("/");
    });
    return;
  }
  if (!window.EventSource) return;
  const live = $("#live-status");
  const status = (on) => { if (live) { live.textContent = on ? "live" : "reconnecting…"; live.classList.toggle("on", on); } };
  let es;
  function connect() {
    es = new EventSource("/api/events");
    es.onopen = () => status(true);
    es.addEventListener("platform_switched", () => { if (dashboard) { refreshSession(); refreshListsSoon(); } });
    // This session ended (here, in another tab, or revoked from another
    // device): every tab goes to the login page.
    for (const kind of ["logout", "revoked", "evicted"]) {
      es.addEventListener(kind, () => { es.close(); if (!acting) settle(toLogin, 300); });
    }
    // The session got a new id: after a login in another tab, load the
    // dashboard; otherwise follow it with the new cookie.
    es.addEventListener("rotated", () => {
      es.close();
      if (acting) return;
      settle(() => { if (dashboard) { connect(); refreshSession(); } else location.assign("/"); }, 700);
    });
    // Reconnected after a gap: events may have been missed.
    es.addEventListener("resync", () => { if (dashboard) { refreshSession(); refreshLists(); } });
    es.onerror = () => {
      status(false);
      if (es.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      // The server refused the stream (no session any more): check.
      setTimeout(async () => {
        const r = await api("GET", "/api/session");
        if (r.ok && dashboard && !r.data.authenticated) { toLogin(); return; }
        if (r.ok && !dashboard && r.data.authenticated) { location.assign("/"); return; }
        connect();
      }, 1000);
    };
  }
  connect();
})();
