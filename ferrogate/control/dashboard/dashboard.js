// FerroGate dashboard: one page over the admin API. No framework, no build step, no cookies:
// the token lives in this tab's session storage and goes out as a bearer header. Every value is
// put in the page as text (never as HTML), so nothing the API returns can run as script.
"use strict";

const TOKEN_KEY = "ferrogate-admin-token";
const SECTIONS = [
  ["status", "Status"], ["providers", "Providers"], ["models", "Models"], ["keys", "API keys"],
  ["tenants", "Tenants"], ["policies", "Policies"], ["profiles", "Gateway configs"], ["requests", "Requests"],
  ["usage", "Usage"], ["audit", "Audit"],
];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function text(value) {
  if (value === null || value === undefined || value === "") return "–";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "–";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function when(epoch) { return epoch ? new Date(epoch * 1000).toLocaleString() : "–"; }

function list(csv) { return csv.split(",").map((s) => s.trim()).filter(Boolean); }

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (method !== "GET") headers["Content-Type"] = "application/json"; // admin writes need it
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (answer.status === 401) throw new Unauthorized("That token was refused.");
  if (answer.status === 204) return null;
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.error ? data.error.message : answer.statusText);
  return data;
}

async function all(path) {
  const rows = [];
  let cursor = "";
  do {
    const page = await api("GET", path + (cursor ? "?cursor=" + encodeURIComponent(cursor) : ""));
    rows.push(...page.data);
    cursor = page.next_cursor || "";
  } while (cursor);
  return rows;
}

function table(columns, rows, empty) {
  const head = el("tr", {}, columns.map(([title]) => el("th", { scope: "col" }, title)));
  const body = rows.length
    ? rows.map((row) => el("tr", { "data-id": row.id || row.name }, columns.map(([, cell]) => el("td", {}, cell(row)))))
    : [el("tr", {}, el("td", { class: "empty", colspan: columns.length }, empty))];
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
}

function badge(good, yes, no) { return el("span", { class: "badge " + (good ? "ok" : "bad") }, good ? yes : no); }

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function act(work) {
  showError("");
  try { await work(); await render(); } catch (err) { handle(err); }
}

function handle(err) {
  if (err instanceof Unauthorized) { signOut(err.message); return; }
  showError(err.message || String(err));
}

function form(fields, submitLabel, onSubmit) {
  const inputs = {};
  const node = el("form", { class: "inline card", onsubmit: (e) => { e.preventDefault(); act(() => onSubmit(inputs, node)); } },
    fields.map(([name, label, attrs]) => el("label", {}, label, inputs[name] = el("input", { name, ...(attrs || {}) }))),
    el("button", { type: "submit" }, submitLabel));
  return node;
}

function deleteButton(path, id, label) {
  return el("button", { class: "danger", type: "button", onclick: () => {
    if (confirm("Delete " + id + "?")) act(() => api("DELETE", path + "/" + encodeURIComponent(id)));
  } }, label || "Delete");
}

function fromConfig(row) { return row.source === "config"; }

// --------------------------------------------------------------------------- sections

const views = {
  async status() {
    const s = await api("GET", "/admin/v1/status");
    const facts = [["Node", s.node_id], ["Version", s.version], ["Ready", s.ready ? "yes" : "no (" + s.ready_reason + ")"],
      ["Draining", s.draining ? "yes" : "no"], ["Config", s.config_source], ["Revision", s.config_revision],
      ["Uptime", Math.round(s.uptime_secs) + " s"], ["AI requests", text(s.ai_requests)]];
    return [
      el("div", { class: "card grid" }, facts.map(([k, v]) => el("div", {}, el("span", {}, k), text(v)))),
      el("h2", {}, "Workers"),
      table([["Slot", (w) => w.slot], ["PID", (w) => w.pid], ["State", (w) => w.state], ["In flight", (w) => text(w.inflight)],
        ["Connections", (w) => text(w.connections)], ["Restarts", (w) => w.restarts], ["Up", (w) => Math.round(w.uptime_secs) + " s"]],
      s.workers, "No workers are running."),
    ];
  },

  async providers() {
    const [p, health] = await Promise.all([api("GET", "/admin/v1/providers"), api("GET", "/admin/v1/provider-health")]);
    return [
      table([["Name", (r) => r.name], ["Kind", (r) => r.kind], ["Enabled", (r) => badge(r.enabled, "yes", "no")],
        ["Base URL", (r) => text(r.base_url)], ["Models", (r) => r.models.map((m) => m.model + " (" + m.role + ")").join(", ") || "–"]],
      p.providers, "No providers are configured."),
      el("h2", {}, "Circuit breakers"),
      table([["Provider", (t) => t.provider], ["Model", (t) => t.provider_model], ["State", (t) => badge(t.state === "closed", t.state, t.state)],
        ["Failures", (t) => t.failures], ["Successes", (t) => t.successes], ["Latency", (t) => t.latency_ewma_ms === null ? "–" : Math.round(t.latency_ewma_ms) + " ms"]],
      health.targets, "No provider has been called yet."),
    ];
  },

  async models() {
    const m = await api("GET", "/admin/v1/models");
    return table([["Name", (r) => r.name], ["Provider", (r) => r.provider + ":" + r.provider_model], ["Capabilities", (r) => text(r.capabilities)],
      ["Input $/1M", (r) => text(r.input_price_per_1m)], ["Output $/1M", (r) => text(r.output_price_per_1m)],
      ["Fallbacks", (r) => text(r.fallbacks.map((f) => f.provider + ":" + f.provider_model))], ["Enabled", (r) => badge(r.enabled, "yes", "no")]],
    m.models, "No models are configured.");
  },

  async keys() {
    const rows = await all("/admin/v1/api-keys");
    const secretBox = el("div", { id: "new-secret" });
    const create = form([["id", "Id (optional)"], ["tenant", "Tenant"], ["rpm", "Requests per minute", { type: "number", min: "1" }],
      ["scopes", "Scopes (comma-separated)", { value: "models.read, chat.completions, responses.create, embeddings.create, messages.create" }]],
    "Create key", async (inputs) => {
      const body = { scopes: list(inputs.scopes.value) };
      if (inputs.id.value) body.id = inputs.id.value;
      if (inputs.tenant.value) body.tenant = inputs.tenant.value;
      if (inputs.rpm.value) body.request_limit_per_minute = Number(inputs.rpm.value);
      const made = await api("POST", "/admin/v1/api-keys", body);
      state.secret = { id: made.key.id, secret: made.secret };
    });
    if (state.secret) {
      const shown = state.secret;
      state.secret = null; // shown once: gone on the next render
      const value = el("div", { class: "secret", id: "secret" }, shown.secret);
      secretBox.append(el("div", { class: "card" },
        el("p", {}, "Secret of ", el("strong", {}, shown.id), ". It is shown only now; the gateway keeps its hash only."),
        value, el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", onclick: () => copy(value) }, "Copy"))));
    }
    const actions = (r) => fromConfig(r) ? el("span", { class: "muted" }, "config file") : el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", onclick: () => act(() => api("PUT", "/admin/v1/api-keys/" + encodeURIComponent(r.id), { disabled: !r.disabled })) },
        r.disabled ? "Enable" : "Disable"),
      el("button", { type: "button", class: "secondary", onclick: () => act(async () => {
        const made = await api("POST", "/admin/v1/api-keys/" + encodeURIComponent(r.id) + "/rotate", {});
        state.secret = { id: made.key.id, secret: made.secret };
      }) }, "Rotate"),
      deleteButton("/admin/v1/api-keys", r.id, "Revoke"));
    return [create, secretBox, table([["Id", (r) => r.id], ["Status", (r) => badge(!r.disabled, "enabled", "disabled")], ["Tenant", (r) => text(r.tenant)],
      ["Scopes", (r) => text(r.scopes)], ["Req/min", (r) => text(r.request_limit_per_minute)], ["Source", (r) => r.source], ["", actions]],
    rows, "No API keys yet: create one above.")];
  },

  async tenants() {
    const rows = await all("/admin/v1/tenants");
    return [
      form([["id", "Id", { required: true }], ["name", "Name"], ["rpm", "Requests per minute", { type: "number", min: "1" }]], "Create tenant", async (i) => {
        const body = { id: i.id.value };
        if (i.name.value) body.name = i.name.value;
        if (i.rpm.value) body.request_limit_per_minute = Number(i.rpm.value);
        await api("POST", "/admin/v1/tenants", body);
      }),
      table([["Id", (r) => r.id], ["Name", (r) => text(r.name)], ["Req/min", (r) => text(r.request_limit_per_minute)],
        ["Monthly tokens", (r) => text(r.monthly_token_budget)], ["Source", (r) => r.source],
        ["", (r) => fromConfig(r) ? el("span", { class: "muted" }, "config file") : deleteButton("/admin/v1/tenants", r.id)]],
      rows, "No tenants yet."),
    ];
  },

  async policies() {
    const rows = await all("/admin/v1/policies");
    return [
      form([["name", "Name", { required: true }], ["models", "Models (comma-separated, globs)"], ["providers", "Providers"], ["keys", "API key ids"], ["message", "Message"]],
        "Create deny policy", async (i) => {
          const body = { name: i.name.value, models: list(i.models.value), providers: list(i.providers.value), api_key_ids: list(i.keys.value) };
          if (i.message.value) body.message = i.message.value;
          await api("POST", "/admin/v1/policies", body);
        }),
      table([["Name", (r) => r.name], ["Enabled", (r) => badge(r.enabled, "yes", "no")], ["Keys", (r) => text(r.api_key_ids)], ["Models", (r) => text(r.models)],
        ["Providers", (r) => text(r.providers)], ["Message", (r) => text(r.message)], ["Source", (r) => r.source],
        ["", (r) => fromConfig(r) ? el("span", { class: "muted" }, "config file") : deleteButton("/admin/v1/policies", r.name)]],
      rows, "No policies: every request its key allows is served."),
    ];
  },

  async profiles() {
    const rows = await all("/admin/v1/gateway-configs");
    return [
      form([["id", "Id", { required: true }], ["keys", "API key ids"]], "Create gateway config", async (i) => {
        await api("POST", "/admin/v1/gateway-configs", { id: i.id.value, api_key_ids: list(i.keys.value) });
      }),
      table([["Id", (r) => r.id], ["Revision", (r) => text(r.revision)], ["Keys", (r) => text(r.api_key_ids)], ["Cache", (r) => text(r.cache_enabled)],
        ["Strategy", (r) => text(r.routing_strategy)], ["Source", (r) => r.source],
        ["", (r) => fromConfig(r) ? el("span", { class: "muted" }, "config file") : deleteButton("/admin/v1/gateway-configs", r.id)]],
      rows, "No gateway configs yet."),
    ];
  },

  async requests() {
    const f = state.logFilter;
    const query = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    query.set("limit", "50");
    const pages = [];
    let cursor = "";
    for (let i = 0; i < state.logPages; i++) {
      if (cursor) query.set("cursor", cursor);
      const page = await api("GET", "/admin/v1/request-logs?" + query);
      pages.push(...page.data);
      cursor = page.next_cursor || "";
      if (!cursor) break;
    }
    const filters = form([["key_id", "Key", { value: f.key_id || "" }], ["model", "Model", { value: f.model || "" }],
      ["provider", "Provider", { value: f.provider || "" }], ["status", "Status (429, 4xx)", { value: f.status || "", size: 8 }],
      ["since", "Since (RFC 3339)", { value: f.since || "", placeholder: "2026-12-05T10:00:00Z" }]], "Filter", async (inputs) => {
      state.logFilter = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value.trim()]));
      state.logPages = 1;
    });
    const more = cursor ? el("button", { class: "secondary", type: "button", onclick: () => { state.logPages += 1; render(); } }, "Load more") : null;
    return [filters, table([["Time", (r) => el("span", { class: "nowrap", title: r.at }, new Date(r.at).toLocaleTimeString())], ["Request", (r) => r.request_id],
      ["Key", (r) => text(r.key_id)], ["Model", (r) => text(r.model)], ["Provider", (r) => text(r.provider)],
      ["Status", (r) => badge(r.status < 400, String(r.status), String(r.status))], ["Stream", (r) => (r.stream ? "yes" : "no")],
      ["Tokens in/out", (r) => r.input_tokens + " / " + r.output_tokens], ["Cost USD", (r) => r.cost_usd],
      ["ms", (r) => Math.round(r.duration_ms * 10) / 10], ["TTFT ms", (r) => (r.ttft_ms === null ? "–" : Math.round(r.ttft_ms * 10) / 10)],
      ["Cache", (r) => text(r.cache)], ["Attempts", (r) => r.attempt_log.map((a) => a.provider + " " + (a.status || a.error_kind)).join(", ") || "–"]],
    pages.map((r) => ({ ...r, id: r.request_id })), "No requests yet."), ...(more ? [more] : [])];
  },

  async usage() {
    const rows = (await api("GET", "/admin/v1/usage-aggregates?limit=1000&granularity=" + state.usageGrain)).data;
    const by = state.usageBy;
    const choose = el("form", { class: "inline card" },
      el("label", {}, "Buckets", el("select", { onchange: (e) => { state.usageGrain = e.target.value; render(); } },
        ["hour", "day"].map((g) => el("option", { value: g, selected: g === state.usageGrain }, g)))),
      el("label", {}, "Per", el("select", { onchange: (e) => { state.usageBy = e.target.value; render(); } },
        [["key_id", "key"], ["model", "model"], ["provider", "provider"]].map(([v, l]) => el("option", { value: v, selected: v === by }, l)))));
    const totals = new Map();
    for (const r of rows) {
      const name = r[by] || "(none)";
      const t = totals.get(name) || { name, requests: 0, errors: 0, tokens: 0, cost: 0n, hits: 0 };
      t.requests += r.requests; t.errors += r.errors; t.tokens += r.input_tokens + r.output_tokens;
      t.cost += pico(r.cost_usd); t.hits += r.cache_hits;
      totals.set(name, t);
    }
    const sums = [...totals.values()].sort((a, b) => b.requests - a.requests);
    return [choose, el("h2", {}, "Requests per " + state.usageGrain), chart(rows, by, (r) => r.requests),
      el("h2", {}, "Cost (USD) per " + state.usageGrain), chart(rows, by, (r) => Number(pico(r.cost_usd)) / 1e12),
      table([["Per " + by.replace("_id", ""), (t) => t.name], ["Requests", (t) => t.requests], ["Errors", (t) => t.errors],
        ["Tokens", (t) => t.tokens], ["Cost USD", (t) => usd(t.cost)], ["Cache hits", (t) => t.hits]],
      sums.map((t) => ({ ...t, id: t.name })), "No usage yet.")];
  },

  async audit() {
    const rows = (await all("/admin/v1/audit-events")).reverse();
    return table([["When", (r) => when(r.at)], ["Who", (r) => r.actor], ["Action", (r) => r.action], ["Target", (r) => r.target],
      ["Change", (r) => text(r.change)], ["From", (r) => text(r.remote)]], rows, "No admin writes yet.");
  },
};

// Money comes as decimal strings; sums are kept exact in pico-USD (BigInt), never floats.
function pico(decimal) {
  const [whole, frac = ""] = String(decimal).split(".");
  return BigInt(whole || "0") * 1000000000000n + BigInt((frac + "000000000000").slice(0, 12));
}

function usd(p) {
  const frac = (p % 1000000000000n).toString().padStart(12, "0").replace(/0+$/, "");
  return (p / 1000000000000n).toString() + (frac ? "." + frac : "");
}

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1f6feb", "#d97706", "#067647", "#b42318", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// Stacked bars: one per bucket, one colour per group (the first eight groups; the rest as "other").
function chart(rows, by, measure) {
  const buckets = [...new Set(rows.map((r) => r.bucket_start))].sort();
  if (!buckets.length) return el("p", { class: "muted" }, "No usage yet.");
  const groups = [...new Set(rows.map((r) => r[by] || "(none)"))].slice(0, COLORS.length);
  const value = new Map();
  for (const r of rows) {
    const g = groups.includes(r[by] || "(none)") ? r[by] || "(none)" : groups[groups.length - 1];
    const k = r.bucket_start + "|" + g;
    value.set(k, (value.get(k) || 0) + measure(r));
  }
  const totals = buckets.map((b) => groups.reduce((sum, g) => sum + (value.get(b + "|" + g) || 0), 0));
  const top = Math.max(...totals);
  if (!top) return el("p", { class: "muted card" }, "Nothing to chart yet (a model without prices costs nothing).");
  const width = 600, height = 160, step = width / buckets.length, bar = Math.min(40, Math.max(2, step * 0.7));
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height + 20}`, class: "chart", role: "img" });
  buckets.forEach((b, i) => {
    let y = height;
    groups.forEach((g, gi) => {
      const h = ((value.get(b + "|" + g) || 0) / top) * (height - 10);
      if (h <= 0) return;
      y -= h;
      plot.append(svg("rect", { x: i * step + (step - bar) / 2, y, width: bar, height: h, fill: COLORS[gi] },
        svg("title", {}, `${b} ${g}: ${Math.round((value.get(b + "|" + g) || 0) * 1e6) / 1e6}`)));
    });
  });
  plot.append(svg("text", { x: 0, y: 10, class: "axis" }, "max " + Math.round(top * 1e6) / 1e6));
  plot.append(svg("text", { x: 0, y: height + 16, class: "axis" }, buckets[0].slice(0, 16).replace("T", " ")));
  plot.append(svg("text", { x: width, y: height + 16, class: "axis", "text-anchor": "end" }, buckets[buckets.length - 1].slice(0, 16).replace("T", " ")));
  const legend = el("div", { class: "legend" }, groups.map((g, gi) => el("span", {}, el("i", { class: "swatch c" + gi }), g)));
  return el("div", { class: "card" }, plot, legend);
}

async function copy(node) {
  try {
    await navigator.clipboard.writeText(node.textContent);
  } catch {
    const range = document.createRange(); // no clipboard access here: select it for Ctrl+C
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
}

// --------------------------------------------------------------------------- frame

const state = { secret: null, logFilter: {}, logPages: 1, usageGrain: "hour", usageBy: "key_id" };

function current() {
  const name = location.hash.slice(1);
  return views[name] ? name : "status";
}

async function render() {
  if (!sessionStorage.getItem(TOKEN_KEY)) { signOut(); return; }
  document.getElementById("login").hidden = true;
  document.getElementById("sign-out").hidden = false;
  const name = current();
  const tabs = document.getElementById("tabs");
  tabs.replaceChildren(...SECTIONS.map(([id, label]) => el("a", { href: "#" + id, "aria-current": id === name ? "page" : false }, label)));
  const view = document.getElementById("view");
  try {
    const content = await views[name]();
    if (current() === name) view.replaceChildren(...[content].flat());
  } catch (err) {
    handle(err);
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("view").replaceChildren();
  document.getElementById("tabs").replaceChildren();
  document.getElementById("sign-out").hidden = true;
  document.getElementById("login").hidden = false;
  const note = document.getElementById("login-message");
  note.textContent = message || "";
  note.hidden = !message;
  showError("");
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  render();
});
document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => { showError(""); render(); });
render();
