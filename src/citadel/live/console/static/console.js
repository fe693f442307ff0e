// Citadel's admin console: plain JavaScript against /ui/api (session cookie + CSRF token), /ws/metrics
// (the live overview) and /ws/chat/{model} (the playground). Every rule is enforced by the server; the page
// only shows what it answers, refusals included.
"use strict";

const state = { me: null, view: null, feed: null, chat: null, lastSecret: "", models: [] };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && state.me) headers["x-csrf-token"] = state.me.csrf_token;
  const response = await fetch("/ui/api" + path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || (data.detail && JSON.stringify(data.detail)) || response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

function fmt(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return typeof value === "number" ? value.toFixed(digits) : String(value);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

// -- sign-in ---------------------------------------------------------------------------------------------
async function start() {
  try {
    state.me = await api("GET", "/session");
    showApp();
  } catch (error) {
    showSignin();
  }
}

function showSignin() {
  stopFeed();
  $("app-view").hidden = true;
  $("signin-view").hidden = false;
}

function showApp() {
  $("signin-view").hidden = true;
  $("app-view").hidden = false;
  $("whoami").textContent = `${state.me.username} (${state.me.role})`;
  for (const link of document.querySelectorAll("#nav a[data-role]")) {
    link.hidden = state.me.role !== link.dataset.role;
  }
  route();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  try {
    state.me = await api("POST", "/session", { username: $("signin-username").value, password: $("signin-password").value });
    $("signin-password").value = "";
    showApp();
  } catch (error) {
    $("signin-error").textContent = error.message;
  }
});

$("signout").addEventListener("click", async () => {
  try { await api("DELETE", "/session"); } finally { state.me = null; showSignin(); }
});

// -- views -----------------------------------------------------------------------------------------------
const views = { overview: showOverview, keys: showKeys, usage: showUsage, requests: showRequests,
  playground: showPlayground, config: showConfig, users: showUsers, audit: showAudit };

function route() {
  const name = (location.hash || "#overview").slice(1);
  const view = views[name] ? name : "overview";
  state.view = view;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.view === view);
  if (view !== "overview") stopFeed();
  views[view]().catch((error) => {
    if (error.status === 401) { state.me = null; showSignin(); }
  });
}
window.addEventListener("hashchange", () => state.me && route());

// -- overview: /ws/metrics -------------------------------------------------------------------------------
async function showOverview() {
  renderOverview(await api("GET", "/overview"));
  startFeed();
}

function startFeed() {
  if (state.feed) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/metrics?interval=1`);
  state.feed = socket;
  socket.onopen = () => { $("ov-feed").textContent = "live"; };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "metrics") {
      renderOverview(message);
      $("ov-updates").textContent = String(Number($("ov-updates").textContent) + 1);
    } else if (message.type === "error") {
      $("ov-feed").textContent = "refused: " + message.error.message;
    }
  };
  socket.onclose = () => {
    if (state.feed === socket) { state.feed = null; $("ov-feed").textContent = "closed"; }
  };
}

function stopFeed() {
  if (state.feed) { const socket = state.feed; state.feed = null; socket.close(); }
}

function renderOverview(data) {
  const status = $("ov-status");
  status.textContent = data.status;
  status.className = "value " + (data.status === "healthy" ? "ok" : data.status === "degraded" ? "warn" : "bad");
  $("ov-rps").textContent = fmt(data.requests_per_s, 2);
  $("ov-inflight").textContent = String(data.in_flight);
  $("ov-logqueue").textContent = String(data.log_queue);
  $("ov-updated").textContent = new Date(data.timestamp * 1000).toLocaleTimeString();
  state.models = data.models.map((m) => m.name);
  fill($("ov-models").tBodies[0], data.models.map((m) => el("tr", { "data-model": m.name },
    el("td", {}, m.name),
    el("td", { class: m.status === "healthy" ? "ok" : "bad" }, m.status),
    el("td", {}, m.replicas.map((r) => `${r.url} (${r.status})`).join(", ")),
    el("td", {}, m.replicas.map((r) => r.breaker).join(", ")),
    el("td", {}, fmt(m.requests_per_s, 2)),
    el("td", {}, fmt(m.latency_ms)),
    el("td", {}, String(m.in_flight)),
    el("td", { class: "requests-total" }, String(m.requests_total)),
  )));
}

// -- API keys --------------------------------------------------------------------------------------------
async function showKeys() {
  const data = await api("GET", "/keys");
  const tier = $("key-tier");
  if (!tier.options.length) {
    tier.replaceChildren(...data.tiers.map((name) => el("option", { value: name }, name)));
    $("key-models").replaceChildren(el("legend", {}, "Allowed models (none ticked: all)"),
      ...data.models.map((name) => el("label", { class: "check" }, el("input", { type: "checkbox", value: name }), name)));
  }
  fill($("keys-table").tBodies[0], data.data.map((key) => {
    const revoked = Boolean(key.revoked_at);
    const actions = el("td", {});
    if (!revoked) {
      actions.append(
        el("button", { type: "button", class: "small quiet", onclick: () => keyAction("POST", `/keys/${key.id}/rotate`) }, "Rotate"), " ",
        el("button", { type: "button", class: "small quiet", onclick: () => keyAction("DELETE", `/keys/${key.id}`) }, "Revoke"));
    }
    return el("tr", { "data-prefix": key.prefix },
      el("td", {}, String(key.id)), el("td", {}, key.prefix), el("td", {}, key.name), el("td", {}, key.tier),
      el("td", {}, key.allowed_models ? key.allowed_models.join(", ") : "all"),
      el("td", {}, key.spend_limit === null ? "–" : `${key.spend_limit} / ${key.spend_period}`),
      el("td", { class: revoked ? "bad" : "ok" }, revoked ? "revoked" : "active"), actions);
  }));
}

async function keyAction(method, path, body) {
  $("keys-error").textContent = "";
  try {
    const result = await api(method, path, body);
    if (result.secret) {
      state.lastSecret = result.secret;
      $("key-secret").textContent = result.secret;
      $("key-secret-box").hidden = false;
    }
    await showKeys();
  } catch (error) {
    $("keys-error").textContent = error.message;
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const models = [...document.querySelectorAll("#key-models input:checked")].map((box) => box.value);
  const budget = $("key-budget").value;
  keyAction("POST", "/keys", {
    name: $("key-name").value, tier: $("key-tier").value, models: models.length ? models : null,
    spend_limit: budget === "" ? null : Number(budget),
  });
});

// -- usage -----------------------------------------------------------------------------------------------
async function showUsage() {
  const range = Number($("usage-range").value);
  const params = new URLSearchParams({ since: new Date(Date.now() - range * 1000).toISOString(), bucket_s: $("usage-bucket").value });
  if ($("usage-key").value) params.set("key", $("usage-key").value);
  if ($("usage-model").value) params.set("model", $("usage-model").value);
  const data = await api("GET", "/usage?" + params);
  fill($("usage-table").tBodies[0], data.data.map((row) => el("tr", {},
    el("td", {}, row.key_prefix || (row.key_id === null ? "admin/anonymous" : String(row.key_id))), el("td", {}, row.model),
    el("td", {}, String(row.requests)), el("td", {}, String(row.prompt_tokens)), el("td", {}, String(row.completion_tokens)),
    el("td", {}, fmt(row.cost, 4)), el("td", {}, fmt(row.p50_latency_ms)), el("td", {}, fmt(row.p95_latency_ms)),
    el("td", {}, String(row.errors)))));
  chart($("usage-chart-models"), data.series, "model", "requests");
  chart($("usage-chart-keys"), data.series, "key", "cost");
}

const COLOURS = ["#2f5bd3", "#137a3b", "#b54708", "#7a2fd3", "#b42318", "#0e7490", "#4d7c0f"];

function chart(box, series, by, measure) {
  const buckets = [...new Set(series.map((s) => s.bucket_epoch))].sort((a, b) => a - b);
  const groups = [...new Set(series.map((s) => s[by]))];
  const width = 720, height = 160, pad = 24;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("width", width); svg.setAttribute("height", height + pad);
  const totals = buckets.map((b) => series.filter((s) => s.bucket_epoch === b).reduce((sum, s) => sum + s[measure], 0));
  const most = Math.max(1e-9, ...totals);
  const step = buckets.length ? (width - pad) / buckets.length : 0;
  buckets.forEach((bucket, i) => {
    let y = height;
    groups.forEach((group, g) => {
      const value = series.filter((s) => s.bucket_epoch === bucket && s[by] === group).reduce((sum, s) => sum + s[measure], 0);
      if (!value) return;
      const h = (value / most) * (height - pad);
      const rect = document.createElementNS(svgNs, "rect");
      rect.setAttribute("x", pad + i * step + 2); rect.setAttribute("y", y - h);
      rect.setAttribute("width", Math.max(2, step - 4)); rect.setAttribute("height", h);
      rect.setAttribute("fill", COLOURS[g % COLOURS.length]);
      const title = document.createElementNS(svgNs, "title");
      title.textContent = `${group}: ${measure === "cost" ? value.toFixed(4) : value} at ${new Date(bucket * 1000).toLocaleString()}`;
      rect.append(title); svg.append(rect);
      y -= h;
    });
  });
  const label = document.createElementNS(svgNs, "text");
  label.setAttribute("x", 2); label.setAttribute("y", 12); label.setAttribute("font-size", "11");
  label.textContent = `max ${measure === "cost" ? most.toFixed(4) : most}`;
  svg.append(label);
  const legend = el("div", { class: "legend" });
  groups.forEach((group, g) => {
    const swatch = el("span", {}, "■ ");
    swatch.style.color = COLOURS[g % COLOURS.length];
    legend.append(swatch, `${group}   `);
  });
  if (!groups.length) legend.append("no requests in this range");
  box.replaceChildren(svg, legend);
}

// -- request log -----------------------------------------------------------------------------------------
async function showRequests() {
  const params = new URLSearchParams();
  for (const [field, id] of [["key", "req-key"], ["model", "req-model"], ["status", "req-status"]]) {
    if ($(id).value) params.set(field, $(id).value);
  }
  for (const [field, id] of [["since", "req-since"], ["until", "req-until"]]) {
    if ($(id).value) params.set(field, new Date($(id).value).toISOString());
  }
  $("requests-error").textContent = "";
  let data;
  try { data = await api("GET", "/requests?" + params); } catch (error) { $("requests-error").textContent = error.message; return; }
  fill($("requests-table").tBodies[0], data.data.map((row) => el("tr", { "data-request-id": row.request_id, onclick: () => openRequest(row.request_id) },
    el("td", {}, when(row.created_at)), el("td", {}, row.request_id), el("td", {}, row.key_prefix || "–"),
    el("td", {}, row.served_model || row.model || "–"), el("td", {}, row.endpoint), el("td", {}, row.transport),
    el("td", { class: row.status_code < 400 ? "ok" : "bad" }, String(row.status_code)), el("td", {}, fmt(row.latency_ms)),
    el("td", {}, `${row.prompt_tokens}+${row.completion_tokens}`))));
}

async function openRequest(requestId) {
  const row = await api("GET", "/requests/" + encodeURIComponent(requestId));
  const box = $("request-detail");
  const fields = ["request_id", "created_at", "key_prefix", "model", "served_model", "endpoint", "transport", "status_code",
    "error_type", "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens", "cost", "cache_hit"];
  const bodies = row.request_body || row.response_body
    ? [el("h3", {}, "Request body"), el("pre", { class: "detail" }, row.request_body || "–"),
       el("h3", {}, "Response body"), el("pre", { class: "detail" }, row.response_body || "–")]
    : [el("p", { class: "muted" }, `Bodies are not stored (request_log.bodies: ${row.bodies}).`)];
  box.replaceChildren(el("h3", {}, "Request " + row.request_id),
    el("table", { class: "grid" }, el("tbody", {}, ...fields.map((f) => el("tr", {}, el("th", {}, f), el("td", {}, String(row[f] ?? "–")))))),
    ...bodies);
  box.hidden = false;
}

$("requests-form").addEventListener("submit", (event) => { event.preventDefault(); showRequests(); });
$("usage-form").addEventListener("submit", (event) => { event.preventDefault(); showUsage(); });

// -- playground: /ws/chat/{model} ------------------------------------------------------------------------
async function showPlayground() {
  if (!state.models.length) state.models = (await api("GET", "/overview")).models.map((m) => m.name);
  const select = $("play-model");
  if (select.options.length !== state.models.length) {
    select.replaceChildren(...state.models.map((name) => el("option", { value: name }, name)));
  }
  if (!$("play-key").value && state.lastSecret) $("play-key").value = state.lastSecret;
}

$("play-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (state.chat) return;
  const answer = $("play-answer");
  answer.textContent = "";
  $("play-state").textContent = "connecting…";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/chat/${encodeURIComponent($("play-model").value)}`);
  state.chat = socket;
  $("play-send").disabled = true;
  $("play-stop").disabled = false;
  socket.onopen = () => {
    socket.send(JSON.stringify({ type: "auth", token: $("play-key").value }));
    socket.send(JSON.stringify({ messages: [{ role: "user", content: $("play-prompt").value }], max_tokens: Number($("play-max").value) }));
    $("play-state").textContent = "streaming…";
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "chunk") {
      for (const choice of message.data.choices || []) answer.textContent += (choice.delta && choice.delta.content) || "";
    } else if (message.type === "error") {
      $("play-state").textContent = "error: " + message.error.message;
    } else if (message.type === "done") {
      if (!$("play-state").textContent.startsWith("error")) {
        $("play-state").textContent = message.cancelled ? "stopped" : `done (request ${message.request_id})`;
      }
      socket.close();
    }
  };
  socket.onclose = () => {
    state.chat = null;
    $("play-send").disabled = false;
    $("play-stop").disabled = true;
  };
});

$("play-stop").addEventListener("click", () => {
  if (state.chat) state.chat.send(JSON.stringify({ type: "cancel" }));
});

// -- configuration ---------------------------------------------------------------------------------------
async function showConfig() {
  const data = await api("GET", "/config");
  if (!$("config-text").value) $("config-text").value = data.yaml;
}

$("config-validate").addEventListener("click", async () => {
  const result = $("config-result");
  result.replaceChildren();
  try {
    const data = await api("POST", "/config/validate", { yaml: $("config-text").value });
    result.replaceChildren(data.valid
      ? el("p", { class: "ok" }, "Valid: the gateway would load it.")
      : el("div", { class: "bad" }, el("p", {}, "Not valid:"), el("ul", {}, ...data.problems.map((p) => el("li", {}, p)))));
  } catch (error) {
    result.replaceChildren(el("p", { class: "error" }, error.message));
  }
});

// -- users and audit (admin) -----------------------------------------------------------------------------
async function showUsers() {
  const data = await api("GET", "/users");
  fill($("users-table").tBodies[0], data.data.map((u) => el("tr", {},
    el("td", {}, u.username), el("td", {}, u.role), el("td", {}, when(u.created_at)), el("td", {}, u.disabled ? "disabled" : "active"))));
}

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("users-error").textContent = "";
  try {
    await api("POST", "/users", { username: $("user-name").value, password: $("user-password").value, role: $("user-role").value });
    $("user-password").value = "";
    await showUsers();
  } catch (error) {
    $("users-error").textContent = error.message;
  }
});

async function showAudit() {
  const data = await api("GET", "/audit");
  fill($("audit-table").tBodies[0], data.data.map((row) => el("tr", {},
    el("td", {}, when(row.at)), el("td", {}, row.actor), el("td", {}, row.action), el("td", {}, row.target || "–"))));
}

start();
