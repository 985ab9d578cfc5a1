// duyet moderator UI: keyboard-first review queue. Plain JavaScript, no build step.
//
// Safety rule for this file: comment text only ever reaches the page through textContent (or
// attributes set with setAttribute); innerHTML is never used. Highlighting builds <mark> nodes.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  // ------------------------------------------------------------------ highlighting
  // Terms come from the spam model's reasons (words of the comment itself). Match them as whole
  // words, ignoring case but not diacritics: in Vietnamese "chí", "chi" and "chỉ" are different
  // words, and "CHÍ" is not a word of "CHÍNH CHỦ". Matches map back to the original characters.
  const WORD = /[\p{L}\p{N}\p{M}]/u;
  function fold(text) {
    let out = "";
    const start = [];
    const end = [];
    let i = 0;
    for (const ch of text) {
      const f = ch.normalize("NFC").toLowerCase();
      for (let k = 0; k < f.length; k++) {
        start.push(i);
        end.push(i + ch.length);
      }
      out += f;
      i += ch.length;
    }
    return { out, start, end };
  }

  // True when `t` at `at` in `s` is not a piece of a longer word on either side.
  function wholeWord(s, at, t) {
    const before = at > 0 ? s[at - 1] : "";
    const after = s[at + t.length] || "";
    return !(WORD.test(t[0]) && WORD.test(before)) && !(WORD.test(t[t.length - 1]) && WORD.test(after));
  }

  function matchRanges(text, terms) {
    const folded = fold(text); // NFC already (fillHighlighted)
    const found = [];
    for (const term of terms) {
      if (typeof term !== "string") continue;
      const t = fold(term.trim().normalize("NFC")).out;
      if (t.length < 2) continue;
      let from = 0;
      let at;
      while ((at = folded.out.indexOf(t, from)) !== -1) {
        if (wholeWord(folded.out, at, t)) found.push([folded.start[at], folded.end[at + t.length - 1]]);
        from = at + 1;
      }
    }
    found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const merged = [];
    for (const r of found) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    return merged;
  }

  function fillHighlighted(el, text, terms) {
    el.textContent = "";
    text = text == null ? "" : String(text).normalize("NFC"); // as comments are stored (service/text.py)
    let pos = 0;
    for (const [a, b] of matchRanges(text, terms)) {
      if (a > pos) el.append(document.createTextNode(text.slice(pos, a)));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(a, b);
      el.append(mark);
      pos = b;
    }
    if (pos < text.length) el.append(document.createTextNode(text.slice(pos)));
  }

  const VERDICTS = ["ham", "suspect", "spam"];

  function setScore(root, probability, verdict, words) {
    const pct = Math.max(0, Math.min(100, Math.round((Number(probability) || 0) * 100)));
    const bar = $(".bar", root);
    bar.setAttribute("aria-valuenow", String(pct));
    bar.setAttribute("aria-valuetext", pct + "%");
    $(".fill", bar).style.width = pct + "%"; // CSSOM, allowed under style-src 'self'
    $(".score-text", root).textContent = pct + "%";
    const v = VERDICTS.includes(verdict) ? verdict : "ham";
    root.classList.add("v-" + v);
    if (words) $(".verdict", root).textContent = words["verdict_" + v];
  }

  // ------------------------------------------------------------------ detail page
  if (document.body.classList.contains("page-detail")) {
    const content = $(".detail .c-content");
    if (content) {
      let terms = [];
      try {
        terms = JSON.parse(content.dataset.terms || "[]");
      } catch (e) {
        terms = [];
      }
      fillHighlighted(content, content.textContent, terms);
      const bar = $(".detail .bar");
      $(".fill", bar).style.width = (Number(bar.dataset.percent) || 0) + "%";
    }
    const locale = document.documentElement.lang === "en" ? "en-GB" : "vi-VN";
    for (const t of document.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleString(locale);
    }
    return;
  }

  const app = $("#app");
  if (!app) return;

  // ------------------------------------------------------------------ queue page state
  const data = JSON.parse($("#ui-data").textContent);
  const words = data.words;
  const reasonLabels = data.reasons;
  const lang = app.dataset.lang;
  const csrf = $('meta[name="csrf-token"]').content;
  const BATCH = Number(app.dataset.batch) || 10;
  const LEASE_MS = Number(app.dataset.leaseMs) || 300000;
  const UNDO_MS = Number(app.dataset.undoMs) || 10000;
  const list = $("#queue");
  const tpl = $("#card-tpl");
  const cards = []; // {id, version, item, el}, in screen order
  const selected = new Set();
  let current = 0;
  let claiming = null;
  let lastAction = null; // {ids, at}
  let toastTimer = null;
  let ended = false;
  let leaving = false; // logging out or closing: claim nothing more
  let newCount = 0;

  const fmt = (key, vars) => words[key].replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));

  async function api(method, path, body, extra) {
    const opts = Object.assign({ method, credentials: "same-origin", headers: { Accept: "application/json" } }, extra);
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      return { ok: false, status: 0, data: null };
    }
    let json = null;
    try {
      json = await resp.json();
    } catch (e) {
      json = null;
    }
    if (resp.status === 401) sessionEnded();
    return { ok: resp.ok, status: resp.status, data: json };
  }

  function sessionEnded() {
    if (ended) return;
    ended = true;
    toast(words.session_ended, false);
    setTimeout(() => window.location.assign("/moderate"), 1500);
  }

  // ------------------------------------------------------------------ toast and live region
  function toast(text, undoable) {
    const box = $("#toast");
    $("#toast-text").textContent = text + (undoable ? " " + words.undo_hint : "");
    $("#toast-undo").hidden = !undoable;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      box.hidden = true;
    }, undoable ? UNDO_MS : 4000);
  }

  // ------------------------------------------------------------------ cards
  function termsOf(item) {
    const out = [];
    for (const r of Array.isArray(item.reasons) ? item.reasons : []) {
      if (r && Array.isArray(r.terms)) out.push(...r.terms);
    }
    return out;
  }

  function timeText(iso) {
    if (!iso) return words.none;
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(lang === "en" ? "en-GB" : "vi-VN");
  }

  function renderCard(item) {
    const li = tpl.content.firstElementChild.cloneNode(true);
    const id = String(item.id);
    li.dataset.id = id;
    li.id = "c-" + id;
    const terms = termsOf(item);
    const title = $(".c-title", li);
    title.id = "c-" + id + "-title";
    $(".card-body", li).setAttribute("aria-labelledby", title.id);
    fillHighlighted(title, item.title, terms);
    fillHighlighted($(".c-content", li), item.content, terms);
    fillHighlighted($(".c-name", li), item.name, terms);
    $(".c-phone", li).textContent = item.phone || words.no_phone;
    $(".c-article", li).textContent = item.article_id || words.none;
    const time = $(".c-time", li);
    if (item.created_at_iso) time.setAttribute("datetime", item.created_at_iso);
    time.textContent = timeText(item.created_at_iso);
    setScore(li, item.spam_probability, item.verdict, words);
    const reasons = $(".reasons", li);
    for (const r of Array.isArray(item.reasons) ? item.reasons : []) {
      const row = document.createElement("li");
      row.textContent = (r && (r[lang] || r.code)) || "";
      reasons.append(row);
    }
    if (!reasons.children.length) reasons.hidden = true;
    $(".sel", li).setAttribute("aria-label", words.select + ": " + (item.title || id));
    $(".act-details", li).setAttribute("href", "/moderate/comments/" + encodeURIComponent(id));
    return li;
  }

  function addItems(items) {
    for (const item of items) {
      if (cards.some((c) => c.id === item.id)) continue;
      const el = renderCard(item);
      list.append(el);
      cards.push({ id: String(item.id), version: item.version, item, el });
    }
    refresh();
  }

  function removeCards(ids) {
    const gone = new Set(ids);
    for (let i = cards.length - 1; i >= 0; i--) {
      if (gone.has(cards[i].id)) {
        cards[i].el.remove();
        cards.splice(i, 1);
        if (i < current) current--;
      }
    }
    for (const id of ids) selected.delete(id);
    if (current >= cards.length) current = cards.length - 1;
    if (current < 0) current = 0;
    refresh();
    if (cards.length < Math.max(2, Math.ceil(BATCH / 3))) fill();
  }

  function refresh(focus) {
    cards.forEach((c, i) => {
      c.el.classList.toggle("current", i === current);
      c.el.classList.toggle("selected", selected.has(c.id));
      $(".sel", c.el).checked = selected.has(c.id);
    });
    $("#empty").hidden = cards.length > 0 || claiming !== null;
    $("#loading").hidden = !(cards.length === 0 && claiming !== null);
    const bulk = $("#bulk");
    bulk.hidden = selected.size === 0;
    $("#bulk-count").textContent = fmt("bulk_selected", { n: selected.size });
    if (focus && cards[current]) {
      const body = $(".card-body", cards[current].el);
      body.focus({ preventScroll: true });
      body.scrollIntoView({ block: "nearest" });
    }
  }

  function move(delta) {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, current + delta));
    refresh(true);
  }

  // ------------------------------------------------------------------ claiming and leases
  function fill() {
    if (claiming || ended || leaving) return claiming;
    const want = BATCH - cards.length;
    if (want <= 0) return null;
    claiming = (async () => {
      const res = await api("POST", "/v1/queue/claim", { limit: want });
      claiming = null;
      if (res.ok && res.data) {
        const first = cards.length === 0;
        addItems(res.data.items || []);
        if (first && cards.length) refresh(true);
      } else {
        refresh();
      }
    })();
    refresh();
    return claiming;
  }

  async function renewAll() {
    if (leaving) return;
    for (const c of cards.slice()) {
      const res = await api("POST", "/v1/comments/" + encodeURIComponent(c.id) + "/renew", {});
      if (res.status === 409 || res.status === 404) removeCards([c.id]);
    }
  }

  function releaseAll(keepalive) {
    const ids = cards.map((c) => c.id);
    return Promise.all(
      ids.map((id) =>
        api("POST", "/v1/comments/" + encodeURIComponent(id) + "/release", {}, keepalive ? { keepalive: true } : {})
      )
    );
  }

  // ------------------------------------------------------------------ decisions
  function targets() {
    if (selected.size) return cards.filter((c) => selected.has(c.id));
    return cards[current] ? [cards[current]] : [];
  }

  async function decide(action, reason, note, chosen) {
    chosen = chosen || targets();
    if (!chosen.length) return;
    chosen.forEach((c) => c.el.classList.add("leaving"));
    const body = (c) => {
      const b = { action, version: c.version };
      if (reason) b.reason = reason;
      if (note) b.note = note;
      return b;
    };
    let done = [];
    let conflicts = [];
    if (chosen.length === 1) {
      const c = chosen[0];
      const res = await api("POST", "/v1/comments/" + encodeURIComponent(c.id) + "/decision", body(c));
      if (res.ok) done = [c.id];
      else if (res.status === 409 || res.status === 404) conflicts = [c.id];
    } else {
      const res = await api("POST", "/v1/queue/decisions", {
        decisions: chosen.map((c) => Object.assign({ id: c.id }, body(c))),
      });
      for (const r of (res.data && res.data.results) || []) {
        if (r.status === 200) done.push(r.id);
        else if (r.status === 409 || r.status === 404) conflicts.push(r.id);
      }
    }
    chosen.forEach((c) => c.el.classList.remove("leaving"));
    removeCards(done.concat(conflicts));
    refresh(true);
    if (done.length) {
      lastAction = { ids: done, at: Date.now() };
      const text =
        done.length > 1
          ? fmt("done_bulk", { n: done.length })
          : action === "approve"
            ? words.done_approve
            : words.done_reject;
      toast(text, true);
    } else if (conflicts.length) {
      toast(words.conflict, false);
    } else {
      toast(words.error, false);
    }
    scheduleStats(0);
  }

  async function undo() {
    if (!lastAction) return;
    const action = lastAction;
    lastAction = null;
    if (Date.now() - action.at > UNDO_MS) {
      toast(words.undo_expired, false);
      return;
    }
    const results = await Promise.all(
      action.ids.map((id) => api("POST", "/v1/comments/" + encodeURIComponent(id) + "/undo", {}))
    );
    if (results.every((r) => r.ok)) toast(words.undone, false);
    else if (results.some((r) => r.ok)) toast(words.undone + " " + words.conflict, false);
    else toast(results.some((r) => r.status === 409) ? words.undo_expired : words.error, false);
    // The comments are pending again; claim them back (they are the most urgent ones).
    if (results.some((r) => r.ok)) {
      await claiming;
      const res = await api("POST", "/v1/queue/claim", { limit: action.ids.length });
      if (res.ok && res.data) {
        const items = res.data.items || [];
        // Show them first, where the moderator was.
        for (const item of items.reverse()) {
          if (cards.some((c) => c.id === item.id)) continue;
          const el = renderCard(item);
          list.insertBefore(el, list.children[current] || null);
          cards.splice(current, 0, { id: String(item.id), version: item.version, item, el });
        }
        refresh(true);
      }
    }
    scheduleStats(0);
  }

  function releaseOne(card) {
    return release([card]);
  }

  async function release(chosen) {
    chosen = chosen || targets();
    if (!chosen.length) return;
    await Promise.all(chosen.map((c) => api("POST", "/v1/comments/" + encodeURIComponent(c.id) + "/release", {})));
    removeCards(chosen.map((c) => c.id));
    refresh(true);
    toast(words.done_release, false);
    scheduleStats(0);
  }

  function toggleSelect(card) {
    card = card || cards[current];
    if (!card) return;
    if (selected.has(card.id)) selected.delete(card.id);
    else selected.add(card.id);
    refresh();
  }

  // ------------------------------------------------------------------ reason dialog
  const reasonDialog = $("#reason-dialog");
  let reasonFor = null;

  function askReason() {
    askReasonFor(targets());
  }

  function askReasonFor(chosen) {
    if (!chosen.length) return;
    reasonFor = chosen;
    $("#reason-note").value = "";
    const first = $('input[name="reason"]', reasonDialog);
    first.checked = true;
    reasonDialog.showModal();
    first.focus();
  }

  $("#reason-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = reasonFor;
    reasonFor = null;
    reasonDialog.close();
    const picked = $('input[name="reason"]:checked', reasonDialog);
    if (chosen && picked) decide("reject", picked.value, $("#reason-note").value.trim(), chosen);
  });
  $("#reason-cancel").addEventListener("click", () => {
    reasonFor = null;
    reasonDialog.close();
  });
  reasonDialog.addEventListener("close", () => refresh(true));
  reasonDialog.addEventListener("keydown", (e) => {
    if (e.target && e.target.id === "reason-note") return;
    if (/^[0-9]$/.test(e.key)) {
      const options = reasonDialog.querySelectorAll('input[name="reason"]');
      const i = e.key === "0" ? 9 : Number(e.key) - 1;
      if (options[i]) {
        options[i].checked = true;
        options[i].focus();
      }
      e.preventDefault();
    } else if (e.key === "Enter") {
      e.preventDefault();
      $("#reason-form").requestSubmit();
    }
  });

  // ------------------------------------------------------------------ help dialog
  const helpDialog = $("#help-dialog");
  function toggleHelp() {
    if (helpDialog.open) helpDialog.close();
    else helpDialog.showModal();
  }
  $("#help-open").addEventListener("click", toggleHelp);
  helpDialog.addEventListener("close", () => refresh(true));
  helpDialog.addEventListener("keydown", (e) => {
    if (e.key === "?") {
      e.preventDefault();
      helpDialog.close();
    }
  });

  // ------------------------------------------------------------------ mouse
  list.addEventListener("click", (e) => {
    const li = e.target.closest(".card");
    if (!li) return;
    const i = cards.findIndex((c) => c.el === li);
    if (i < 0) return;
    current = i;
    const t = e.target;
    if (t.closest(".sel")) {
      toggleSelect(cards[i]);
      return;
    }
    if (t.closest(".act-approve")) decide("approve", null, "", [cards[i]]);
    else if (t.closest(".act-reject")) askReasonFor([cards[i]]);
    else if (t.closest(".act-spam")) decide("reject", "spam", "", [cards[i]]);
    else if (t.closest(".act-release")) releaseOne(cards[i]);
    else refresh();
  });

  $("#bulk-approve").addEventListener("click", () => decide("approve", null, ""));
  $("#bulk-reject").addEventListener("click", askReason);
  $("#bulk-clear").addEventListener("click", () => {
    selected.clear();
    refresh(true);
  });
  $("#toast-undo").addEventListener("click", undo);

  // ------------------------------------------------------------------ keyboard
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (reasonDialog.open || helpDialog.open) return; // the dialogs handle their own keys
    const tag = (e.target && e.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) && !(e.target.classList && e.target.classList.contains("sel"))) return;
    const handlers = {
      j: () => move(1),
      ArrowDown: () => move(1),
      k: () => move(-1),
      ArrowUp: () => move(-1),
      a: () => decide("approve", null, ""),
      r: askReason,
      s: () => decide("reject", "spam", ""),
      l: () => release(),
      x: () => toggleSelect(),
      u: undo,
      o: openDetails,
      "?": toggleHelp,
    };
    let fn = handlers[e.key];
    if (e.key === "Enter" && e.target && e.target.classList && e.target.classList.contains("card-body")) fn = openDetails;
    if (!fn) return;
    e.preventDefault();
    fn();
  });

  function openDetails() {
    const c = cards[current];
    if (c) window.open("/moderate/comments/" + encodeURIComponent(c.id), "_blank", "noopener");
  }

  // ------------------------------------------------------------------ stats and live events
  let statsTimer = null;
  function scheduleStats(delay) {
    clearTimeout(statsTimer);
    statsTimer = setTimeout(loadStats, delay == null ? 800 : delay);
  }

  function ago(seconds) {
    if (seconds == null) return words.none;
    const s = Math.round(seconds);
    if (s < 60) return fmt("seconds", { n: s });
    if (s < 3600) return fmt("minutes", { n: Math.floor(s / 60) });
    if (s < 86400) return fmt("hours", { n: Math.floor(s / 3600) });
    return fmt("days", { n: Math.floor(s / 86400) });
  }

  async function loadStats() {
    const res = await api("GET", "/v1/stats");
    if (!res.ok || !res.data) return;
    const depth = res.data.depth || {};
    $("#stat-waiting").textContent = String((depth.pending || 0) + (depth.claimed || 0));
    $("#stat-oldest").textContent = ago(res.data.oldest_pending_seconds);
    let decided = 0;
    for (const m of Object.values(res.data.decisions_by_moderator || {})) decided += m.last_24h || 0;
    $("#stat-decided").textContent = String(decided);
  }

  function listen() {
    if (!window.EventSource) return;
    const source = new EventSource("/v1/events");
    const mine = (id) => cards.some((c) => c.id === id);
    const parse = (e) => {
      try {
        return JSON.parse(e.data);
      } catch (err) {
        return {};
      }
    };
    source.addEventListener("submitted", () => {
      newCount++;
      $("#live").textContent = fmt("live_new", { n: newCount });
      if (cards.length < BATCH) fill();
      scheduleStats();
    });
    // Someone else took or decided a comment we show (our lease lapsed): it is no longer ours.
    for (const kind of ["claimed", "decided", "lease_expired", "reopened"]) {
      source.addEventListener(kind, (e) => {
        const ev = parse(e);
        if (ev.id && mine(ev.id) && (kind === "lease_expired" || ev.by !== $('[data-testid="who"]').textContent)) {
          removeCards([ev.id]);
          toast(words.conflict, false);
        }
        scheduleStats();
      });
    }
    source.addEventListener("released", () => {
      if (cards.length < BATCH) fill();
      scheduleStats();
    });
    // Events sent before this stream opened (e.g. claims released by the page we came from) are
    // not replayed: top up once it is open.
    source.addEventListener("open", () => {
      if (cards.length < BATCH) fill();
    });
    window.addEventListener("pagehide", () => source.close());
  }

  // ------------------------------------------------------------------ start, and leave cleanly
  $(".logout").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    leaving = true;
    await claiming;
    await releaseAll(false);
    cards.splice(0, cards.length);
    form.submit();
  });
  window.addEventListener("pagehide", () => {
    leaving = true;
    if (cards.length && !ended) releaseAll(true);
  });
  // Back from the browser's page cache: the claims were released on leaving, so claim afresh.
  window.addEventListener("pageshow", (e) => {
    if (!e.persisted) return;
    leaving = false;
    removeCards(cards.map((c) => c.id));
  });

  fill();
  loadStats();
  listen();
  setInterval(renewAll, Math.max(1000, Math.floor(LEASE_MS / 3)));
  setInterval(loadStats, 30000);
  setInterval(() => {
    if (cards.length < BATCH) fill();
  }, 15000);
})();
