// Axon's live view of the actor graph. Polls GET /health/actors and calls the management
// routes for the on/off switch and API lifecycle changes. Every string from the server is
// set as text, never parsed as HTML.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "axon-management-token";
const open = new Set();

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "on") node.addEventListener("click", value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function status(text, error) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.classList.toggle("error", Boolean(error));
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store",
  });
  if (response.status === 401) document.getElementById("login").hidden = false;
  let json = null;
  try { json = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) throw new Error((json && json.error) || method + " " + path + ": " + response.status);
  return json;
}

function badge(state) {
  return el("span", { class: "badge " + state, text: state });
}

function counters(c) {
  if (!c) return null;
  return el("span", { class: "counters", title: "sent / succeeded / failed" },
    "sent " + c.sent + " · ok " + c.succeeded + " · ",
    el("span", { class: c.failed ? "bad" : "", text: "failed " + c.failed }));
}

function facts(pairs) {
  const dl = el("dl");
  for (const [key, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", { text: key }), el("dd", { text: String(value) }));
  }
  return dl;
}

// A collapsible card; `key` keeps it open across refreshes.
function card(key, state, summary, body, search) {
  const details = el("details", { class: "node", "data-state": state, "data-actor": key,
    "data-search": search.toLowerCase() }, el("summary", {}, summary), el("div", { class: "body" }, body));
  if (open.has(key)) details.open = true;
  details.addEventListener("toggle", () => {
    if (details.open) open.add(key); else open.delete(key);
  });
  return details;
}

function switchButton(leaf) {
  const on = leaf.state !== "OFF";
  return el("button", {
    class: "switch", "data-switch": leaf.name, "aria-pressed": String(on),
    title: on ? "switch off (maintenance)" : "switch on", text: on ? "on" : "off",
    on: async (event) => {
      event.preventDefault();
      event.stopPropagation();
      try {
        await call("POST", "/health/actors/" + encodeURIComponent(leaf.name) + (on ? "/off" : "/on"));
        status(leaf.name + " switched " + (on ? "off" : "on"));
      } catch (e) { status(e.message, true); }
      refresh();
    },
  });
}

function transitions(list) {
  if (!list || !list.length) return null;
  return el("ol", { class: "transitions" }, list.slice(-5).map((t) =>
    el("li", { text: t.time + "  " + t.from + " → " + t.to + "  " + t.reason })));
}

function leafCard(leaf) {
  if (leaf.type === "key") {
    return card(leaf.name, "ACTIVE", [el("span", { class: "name", text: leaf.name }),
      el("span", { class: "kind", text: "→ " + leaf.target })], null, leaf.name + " " + leaf.target);
  }
  const error = leaf.last_error;
  const summary = [el("span", { class: "name", text: leaf.name }), badge(leaf.state),
    el("span", { class: "kind", text: leaf.type }), counters(leaf.counters),
    leaf.address !== undefined ? switchButton(leaf) : null];
  const body = [facts([
    ["address", leaf.address],
    ["retry in", leaf.retry_in_ms ? leaf.retry_in_ms + " ms" : null],
    ["last suspension", leaf.last_suspension_ms ? leaf.last_suspension_ms + " ms" : null],
    ["retries left", leaf.remaining_retries],
    ["restarts", leaf.restarts || null],
    ["last error", error ? error.code + " " + error.message + " (" + error.time + ")" : null],
    ["detail", error ? error.detail : null],
  ]), transitions(leaf.transitions)];
  return card(leaf.name, leaf.state, summary, body,
    [leaf.name, leaf.address, leaf.state, leaf.type].join(" "));
}

function groupCard(group) {
  const children = (group.children || []).map(node);
  const summary = [el("span", { class: "name", text: group.name }), badge(group.state),
    el("span", { class: "kind", text: group.type + " · " + group.algorithm }),
    el("span", { class: "counters", text: group.ready_children + "/" + children.length + " ready" })];
  const search = [group.name, group.state, group.type].join(" ");
  const details = card(group.name, group.state, summary, children, search);
  details.classList.add("group");
  if (!open.has("closed:" + group.name)) details.open = true;
  details.addEventListener("toggle", () => {
    if (details.open) open.delete("closed:" + group.name); else open.add("closed:" + group.name);
  });
  return details;
}

function node(n) {
  if (Array.isArray(n.children)) return groupCard(n);
  return leafCard(n);
}

function serviceCard(s) {
  const life = s.lifecycle;
  const state = life && life.state !== "PUBLISHED" && life.state !== "PROTOTYPED" ? "OFF" : s.state;
  const summary = [el("span", { class: "name", text: s.name }), badge(life ? life.state : s.state),
    el("span", { class: "kind", text: s.type === "api" ? s.context : s.path })];
  const body = [];
  if (s.type === "api") {
    body.push(el("ul", {}, (s.resources || []).map((r) => el("li", {
      text: (r.methods.join(",") || "*") + " " + (r["uri-template"] || r["url-mapping"] || "/*"),
    }))));
    if (life) {
      body.push(facts([["declared", life.declared], ["since", life.since]]));
      body.push(el("div", { class: "actions" }, life.transitions.map((t) => el("button", {
        "data-lifecycle": s.name, text: t.action, title: "→ " + t.target,
        on: async () => {
          try {
            await call("POST", "/apis/" + encodeURIComponent(s.name) + "/lifecycle", { action: t.action });
            status(s.name + ": " + t.action);
          } catch (e) { status(e.message, true); }
          refresh();
        },
      }))));
    }
  } else {
    body.push(facts([["endpoint", s.endpoint], ["WSDL", s.wsdl ? "published" : null]]));
  }
  return card("service:" + s.name, state, summary, body,
    [s.name, s.context, s.path, s.endpoint, life && life.state].join(" "));
}

function applyFilter() {
  const words = document.getElementById("filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  const problems = document.getElementById("problems").checked;
  const matches = (n) => words.every((w) => n.dataset.search.includes(w)) &&
    (!problems || n.dataset.state !== "ACTIVE");
  // Innermost first, so a group shows when any of its children does.
  const nodes = Array.from(document.querySelectorAll(".node")).reverse();
  for (const n of nodes) {
    const child = n.querySelector(":scope > .body > .node:not(.hidden)");
    n.classList.toggle("hidden", !(matches(n) || child));
  }
}

function summarize(generation, endpoints) {
  const counts = {};
  const count = (n) => {
    if (Array.isArray(n.children)) n.children.forEach(count);
    else if (n.state) counts[n.state] = (counts[n.state] || 0) + 1;
  };
  endpoints.forEach(count);
  const node = document.getElementById("summary");
  node.replaceChildren(el("span", { text: "generation " + generation }),
    ...Object.keys(counts).sort().map((s) => el("span", {}, badge(s), " " + counts[s])));
}

// The endpoints not inside a group: a group's members are shown under it only.
function roots(endpoints) {
  const members = new Set();
  const collect = (n) => (n.children || []).forEach((c) => { members.add(c.name); collect(c); });
  endpoints.forEach(collect);
  return endpoints.filter((n) => !members.has(n.name))
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

function render(data) {
  const services = data.apis.concat(data.proxies).map(serviceCard);
  document.getElementById("services").replaceChildren(...services);
  const top = roots(data.endpoints);
  document.getElementById("endpoints").replaceChildren(...top.map(node));
  summarize(data.generation, top);
  applyFilter();
}

async function refresh() {
  try {
    render(await call("GET", "/health/actors"));
    status("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    status(e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filter").addEventListener("input", applyFilter);
  document.getElementById("problems").addEventListener("change", applyFilter);
  document.getElementById("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    document.getElementById("login").hidden = true;
    refresh();
  });
  refresh();
  setInterval(refresh, POLL_MS);
});
