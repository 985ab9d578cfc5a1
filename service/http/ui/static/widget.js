/* duyet comment widget. Embed with two lines:
 *   <script src="https://duyet.example.vn/widget.js" defer></script>
 *   <duyet-comments id="duyet-comments" article-id="ha-noi/2019/12345"></duyet-comments>
 * Attributes: article-id (required), api (duyet's base URL; default: where this script came from),
 * lang ("vi" or "en"; default: the page's <html lang>, else Vietnamese), page-size (1-100).
 * Whatever the element holds (e.g. a plain <form> for readers without JavaScript) is replaced by
 * the widget's shadow root. Style it with --duyet-* CSS variables or ::part(...).
 * No dependencies; every server or reader text goes through textContent, never innerHTML. */
(() => {
  "use strict";
  if (!window.customElements || customElements.get("duyet-comments")) return;
  const SCRIPT = document.currentScript;
  const BASE = SCRIPT && SCRIPT.src ? new URL(".", SCRIPT.src).href : location.origin + "/";
  // The server replaces this with the rules and messages of its own settings (service/views/portal.py).
  const CONFIG = /*duyet:config*/ {
    rules: { name: [2, 80], title: [3, 150], content: [5, 5000], captcha_answer: [1, 32], phone: [0, 32] },
    captcha: [220, 80],
    messages: { vi: {}, en: {} },
  } /*duyet:end*/;

  const TEXT = {
    vi: {
      heading: "Viết bình luận", name: "Họ tên", phone: "Số điện thoại", title: "Tiêu đề", content: "Nội dung",
      captcha_answer: "Mã xác nhận", refresh: "Lấy lại mã bảo mật", listen: "Nghe mã", stop: "Dừng nghe",
      image: "Ảnh mã xác nhận", submit: "Gửi bình luận", sending: "Đang gửi…",
      pending: "Cảm ơn bạn! Bình luận đã được gửi và đang chờ kiểm duyệt.",
      invalid: "Một số trường chưa hợp lệ.", fieldInvalid: "{label} chưa hợp lệ.",
      failed: "Không gửi được bình luận, vui lòng thử lại.", network: "Không kết nối được máy chủ, vui lòng thử lại.",
      captchaFailed: "Không tải được mã xác nhận.", length: "{min}–{max} ký tự", phoneHint: "Không bắt buộc; không hiển thị công khai.",
      required: "(*) là thông tin bắt buộc", comments: "Bình luận", empty: "Chưa có bình luận nào.",
      more: "Xem thêm bình luận", loadFailed: "Không tải được bình luận.", locale: "vi-VN",
    },
    en: {
      heading: "Write a comment", name: "Name", phone: "Phone number", title: "Title", content: "Comment",
      captcha_answer: "Captcha code", refresh: "Get a new code", listen: "Listen to the code", stop: "Stop",
      image: "Captcha image", submit: "Send comment", sending: "Sending…",
      pending: "Thank you! Your comment was received and awaits moderation.",
      invalid: "Some fields are not valid.", fieldInvalid: "{label} is not valid.",
      failed: "The comment could not be sent, please try again.", network: "Could not reach the server, please try again.",
      captchaFailed: "The captcha could not be loaded.", length: "{min}–{max} characters", phoneHint: "Optional; never shown publicly.",
      required: "(*) required", comments: "Comments", empty: "No comments yet.",
      more: "More comments", loadFailed: "The comments could not be loaded.", locale: "en-GB",
    },
  };
  const FIELDS = [
    ["name", "input", { autocomplete: "name" }, true],
    ["phone", "input", { type: "tel", autocomplete: "tel", inputmode: "tel" }, false],
    ["title", "input", {}, true],
    ["content", "textarea", { rows: "6" }, true],
  ];
  const CSS = `
:host{display:block;font:var(--duyet-font-size,15px)/1.5 var(--duyet-font,system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif);color:var(--duyet-color,#222);--a:var(--duyet-accent,#a3191f);--e:var(--duyet-error,#b00020);--b:var(--duyet-border,#c8c8c8);--r:var(--duyet-radius,3px)}
*{box-sizing:border-box}[hidden]{display:none!important}
h3{font-size:1.15em;margin:0 0 .6em;padding-bottom:.3em;color:var(--duyet-heading-color,var(--a));border-bottom:2px solid var(--a)}
form{background:var(--duyet-form-bg,#f7f7f7);padding:var(--duyet-form-padding,1em);border-radius:var(--r)}
.row{display:grid;grid-template-columns:var(--duyet-label-width,9.5em) minmax(0,1fr);gap:.2em .8em;margin-bottom:.7em;align-items:start}
@media (max-width:540px){.row{grid-template-columns:1fr}}
label{font-weight:600;padding-top:.35em}.req{color:var(--e);font-weight:400}
input,textarea{width:100%;font:inherit;color:inherit;padding:.4em .5em;background:var(--duyet-input-bg,#fff);border:1px solid var(--b);border-radius:var(--r)}
textarea{resize:vertical;min-height:6em}
[aria-invalid=true]{border-color:var(--e);box-shadow:0 0 0 1px var(--e)}
:focus-visible{outline:2px solid var(--duyet-focus,#1a5fb4);outline-offset:2px}
.hint,.note{font-size:.85em;color:var(--duyet-muted,#666);margin:.15em 0 0}.error{color:var(--e);font-size:.9em;margin:.2em 0 0;font-weight:600}
.captcha{display:flex;flex-wrap:wrap;gap:.5em;align-items:center}.captcha input{width:9em}
.captcha img{height:var(--duyet-captcha-height,auto);width:auto;max-width:100%;border:1px solid var(--b);border-radius:var(--r);background:#fff}
.link{background:none;border:0;padding:0;font:inherit;color:var(--duyet-link-color,#0b57a4);text-decoration:underline;cursor:pointer}
.submit{font:inherit;font-weight:600;padding:.45em 1.3em;border:0;border-radius:var(--r);background:var(--a);color:var(--duyet-accent-text,#fff);cursor:pointer}
.submit[disabled]{opacity:.6;cursor:progress}
.alert,.status{margin:.6em 0;padding:.5em .75em;border-radius:var(--r)}
.alert:empty,.status:empty{display:none}
.settled{visibility:hidden}
.alert{background:var(--duyet-error-bg,#fdecea);color:var(--e);border:1px solid var(--e)}
.status{background:var(--duyet-success-bg,#e8f5e9);color:var(--duyet-success,#1b5e20);border:1px solid currentColor}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.list{margin-top:1.5em}ol{list-style:none;margin:0;padding:0}
li{padding:.7em 0;border-bottom:1px solid var(--b)}
.who{font-weight:600}time{color:var(--duyet-muted,#666);font-size:.85em;margin-left:.5em}
h4{margin:.2em 0;font-size:1em}.text{margin:.2em 0 0;white-space:pre-line;overflow-wrap:anywhere}
.more{margin-top:.7em}`;

  // h("p", {class: "x"}, "text", child): text children become text nodes, never markup.
  const h = (tag, attrs, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (typeof v === "function") el.addEventListener(k, v);
      else if (v !== false && v != null) el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) if (kid != null) el.append(kid);
    return el;
  };
  const fill = (s, p) => String(s).replace(/\{(\w+)\}/g, (m, k) => (k in p ? p[k] : m));
  // What the server counts: characters after NFC and tidied spaces (service/text.py).
  const tidy = (v) => v.normalize("NFC").replace(/[ \t\u00a0]+/g, " ").trim();
  const count = (v) => [...v].length;
  const two = (n) => String(n).padStart(2, "0");
  // Vietnam time, as the portal's own article dates and the page without JavaScript show it
  // (service/http/views/portal.py), wherever the reader's computer thinks it is.
  let clock = null;
  try {
    clock = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Ho_Chi_Minh", hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  } catch (e) { /* a browser without time zone data: the reader's own clock */ }
  const when = (iso) => {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    if (!clock) return `${two(d.getHours())}:${two(d.getMinutes())} ${two(d.getDate())}/${two(d.getMonth() + 1)}/${d.getFullYear()}`;
    const p = Object.fromEntries(clock.formatToParts(d).map((x) => [x.type, x.value]));
    return `${p.hour}:${p.minute} ${p.day}/${p.month}/${p.year}`;
  };
  const randomKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

  class DuyetComments extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const lang = (this.getAttribute("lang") || document.documentElement.lang || "vi").slice(0, 2).toLowerCase();
      this.lang_ = lang === "en" ? "en" : "vi";
      this.t = TEXT[this.lang_];
      this.m = CONFIG.messages[this.lang_] || {};
      this.api = new URL(this.getAttribute("api") || BASE, location.href).href.replace(/\/?$/, "/");
      this.article = this.getAttribute("article-id") || "";
      this.pageSize = Math.min(Math.max(parseInt(this.getAttribute("page-size"), 10) || 10, 1), 100);
      this.idem = randomKey();
      const root = this.attachShadow({ mode: "open" });
      try {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet]; // not an inline <style>: works under a strict style-src CSP
      } catch (e) {
        root.append(h("style", {}, CSS));
      }
      root.append(this.build());
      this.showOutcome(new URLSearchParams(location.search));
      if (!this.adoptCaptcha()) this.newCaptcha();
      this.newToken();
      this.loadComments(false);
    }

    // ------------------------------------------------------------------ rendering
    build() {
      const t = this.t;
      this.inputs = {};
      this.errors = {};
      const rows = FIELDS.map(([name, tag, attrs, required]) => {
        const [min, max] = CONFIG.rules[name] || [0, 0];
        const hint = name === "phone" ? t.phoneHint : fill(t.length, { min, max });
        const input = h(tag, { id: `f-${name}`, name, ...attrs, required, "aria-required": required && "true",
          maxlength: String(max), "aria-describedby": `h-${name}`, part: "input", blur: () => this.checkOne(name) });
        this.inputs[name] = input;
        return this.row(name, input, h("p", { class: "hint", id: `h-${name}` }, hint), required);
      });
      // Shown at the size it is drawn (sharp, nothing squeezed), its box reserved before it loads.
      const [cw, ch] = CONFIG.captcha || [220, 80];
      this.img = h("img", { alt: t.image, part: "captcha-image", width: String(cw), height: String(ch) });
      this.audio = null;
      this.listenBtn = h("button", { type: "button", class: "link", "aria-pressed": "false", click: () => this.listen() }, t.listen);
      const answer = h("input", { id: "f-captcha_answer", name: "captcha_answer", required: true, "aria-required": "true",
        autocomplete: "off", autocapitalize: "off", spellcheck: "false", maxlength: "32", "aria-describedby": "h-captcha_answer",
        part: "input", focus: () => this.captchaExpired() && this.newCaptcha() });
      this.inputs.captcha_answer = answer;
      const captcha = h("div", { class: "captcha" }, answer, this.img,
        h("button", { type: "button", class: "link", click: () => this.newCaptcha(true) }, t.refresh), this.listenBtn);
      rows.push(this.row("captcha_answer", captcha, h("p", { class: "hint", id: "h-captcha_answer", "aria-live": "polite" }), true));
      this.honeypot = h("input", { name: "website", tabindex: "-1", autocomplete: "off" });
      this.alert = h("div", { class: "alert", role: "alert", part: "alert" });
      this.status = h("div", { class: "status", role: "status", part: "status" });
      this.button = h("button", { type: "submit", class: "submit", part: "button" }, t.submit);
      this.form = h("form", { novalidate: true, part: "form", "aria-labelledby": "duyet-heading", submit: (e) => this.submit(e) },
        h("p", { class: "note" }, t.required), ...rows,
        h("div", { class: "hp", "aria-hidden": "true" }, h("label", {}, "Website ", this.honeypot)),
        this.alert, this.status, h("div", { class: "row" }, h("span"), h("div", {}, this.button)));
      this.list = h("ol", { part: "comments" });
      this.more = h("button", { type: "button", class: "link more", hidden: true, click: () => this.loadComments(true) }, t.more);
      this.listStatus = h("p", { class: "note", role: "status" });
      return h("div", { part: "root" },
        h("section", {}, h("h3", { id: "duyet-heading" }, t.heading), this.form),
        h("section", { class: "list", "aria-labelledby": "duyet-list-heading" },
          h("h3", { id: "duyet-list-heading" }, t.comments), this.listStatus, this.list, this.more));
    }

    row(name, control, hint, required) {
      const err = h("p", { class: "error", id: `e-${name}`, hidden: true });
      this.errors[name] = err;
      const label = h("label", { for: `f-${name}` }, `${this.t[name]}:`, required ? h("span", { class: "req", "aria-hidden": "true" }, "(*)") : null);
      return h("div", { class: "row" }, label, h("div", {}, control, hint, err));
    }

    // ------------------------------------------------------------------ errors
    setError(field, message) {
      const input = this.inputs[field] || (field === "captcha_id" && this.inputs.captcha_answer);
      const err = this.errors[field] || this.errors.captcha_answer;
      if (!input || !err) return false;
      err.textContent = message;
      err.hidden = false;
      err.classList.remove("settled");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `h-${input.name} ${err.id}`);
      return true;
    }

    clearError(field) {
      const input = this.inputs[field];
      this.errors[field].hidden = true;
      this.errors[field].textContent = "";
      this.errors[field].classList.remove("settled");
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", `h-${field}`);
    }

    // A field corrected between two submits: its error goes out of sight (and out of the
    // accessibility tree) but keeps its space until the next submit. Leaving the field is often
    // the press on "Gửi bình luận" itself: if the form shrank then, the button would move away
    // from under the pointer and the reader's click would be lost.
    settleError(field) {
      const input = this.inputs[field];
      this.errors[field].classList.add("settled");
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", `h-${field}`);
      const left = Object.values(this.inputs).some((i) => i.hasAttribute("aria-invalid"));
      if (!left && this.summaryOfFields) this.alert.classList.add("settled"); // every field is fine now
    }

    // [{field, code, message}] beside their fields; the summary is announced, focus goes to the first.
    showErrors(list, summary) {
      let first = null;
      const other = [];
      for (const e of list) {
        if (this.setError(e.field, e.message)) first = first || this.inputs[e.field] || this.inputs.captcha_answer;
        else other.push(e.message);
      }
      this.alert.textContent = [summary || this.t.invalid, ...other].join(" ");
      this.alert.classList.remove("settled");
      this.summaryOfFields = first !== null && other.length === 0; // it only speaks of fields
      if (first) first.focus();
    }

    message(field, code, min, max) {
      const byField = this.m[field] || {};
      return byField[code] || fill(this.t.fieldInvalid, { label: this.t[field] || field, min, max });
    }

    // The server's length rules (counted as the server counts), so most mistakes never leave the page.
    rule(name) {
      const input = this.inputs[name];
      const value = tidy(input.value);
      const [min, max] = CONFIG.rules[name] || [0, 1e9];
      if (!value) return input.required ? "required" : null;
      if (name === "phone") return /^[0-9+().\s-]{6,32}$/.test(value) ? null : "invalid_phone";
      if (count(value) < min) return "too_short";
      if (count(value) > max) return "too_long";
      return null;
    }

    checkOne(name) {
      if (!this.inputs[name].hasAttribute("aria-invalid")) return;
      const code = this.rule(name); // re-check only a field already marked, so typing is never nagged
      if (code) this.setError(name, this.message(name, code));
      else this.settleError(name);
    }

    // ------------------------------------------------------------------ server calls
    async call(path, init) {
      const headers = { Accept: "application/json", "Accept-Language": this.lang_, ...(init && init.headers) };
      const res = await fetch(this.api + path, { mode: "cors", credentials: "omit", ...init, headers });
      let body = {};
      try { body = await res.json(); } catch (e) { /* an empty or non-JSON answer */ }
      return [res, body];
    }

    captchaExpired() { return !this.captchaId || Date.now() > this.captchaExpires; }

    // The page's form for readers without JavaScript may come with a captcha issued with the page
    // (<input name="captcha_id" data-expires-in data-image-url data-audio-url>): show that one
    // rather than issue a second captcha for the same page view.
    adoptCaptcha() {
      const given = this.querySelector("input[name=captcha_id][data-expires-in][data-image-url]");
      const seconds = given ? parseInt(given.dataset.expiresIn, 10) : NaN;
      if (!given || !given.value || !(seconds > 10)) return false;
      const loaded = Date.now() - performance.now(); // when the page (and so the captcha) was fetched
      this.captchaId = given.value;
      this.captchaExpires = loaded + (seconds - 5) * 1000;
      if (this.captchaExpired()) { this.captchaId = null; return false; }
      this.audioUrl = new URL(given.dataset.audioUrl || "", location.href).href;
      this.img.src = new URL(given.dataset.imageUrl, location.href).href;
      this.img.dataset.captchaId = this.captchaId;
      return true;
    }

    async newCaptcha(asked) {
      this.stopAudio();
      const hint = this.root("h-captcha_answer");
      try {
        const payload = { article_id: this.article };
        if (this.captchaId) payload.replaces = this.captchaId;
        const [res, body] = await this.call("v1/captchas", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
        if (res.status !== 201) throw new Error((body.error && body.error.message) || this.t.captchaFailed);
        this.captchaId = body.id;
        this.captchaExpires = Date.now() + Math.max((body.expires_in || 300) - 5, 5) * 1000;
        this.audioUrl = new URL(body.audio_url, this.api).href;
        this.img.src = new URL(body.image_url, this.api).href;
        this.img.dataset.captchaId = body.id;
        hint.textContent = "";
        if (asked) { this.inputs.captcha_answer.value = ""; this.inputs.captcha_answer.focus(); }
      } catch (e) {
        hint.textContent = e.message && e.message !== "Failed to fetch" ? e.message : this.t.captchaFailed;
      }
    }

    root(id) { return this.shadowRoot.getElementById(id); }

    listen() {
      if (this.audio && !this.audio.paused) return this.stopAudio();
      if (!this.audioUrl) return;
      this.audio = new Audio(this.audioUrl);
      this.audio.addEventListener("ended", () => this.stopAudio());
      this.audio.play().catch(() => this.stopAudio());
      this.listenBtn.textContent = this.t.stop;
      this.listenBtn.setAttribute("aria-pressed", "true");
    }

    stopAudio() {
      if (this.audio) this.audio.pause();
      this.audio = null;
      this.listenBtn.textContent = this.t.listen;
      this.listenBtn.setAttribute("aria-pressed", "false");
    }

    async newToken() {
      try {
        const [res, body] = await this.call("v1/form-token");
        this.formToken = res.ok ? body.token : null;
      } catch (e) { this.formToken = null; } // only a spam signal: the comment is still accepted without it
    }

    async submit(event) {
      event.preventDefault();
      if (this.busy) return;
      this.alert.textContent = "";
      this.alert.classList.remove("settled");
      this.status.textContent = "";
      const problems = [];
      for (const name of Object.keys(this.inputs)) {
        this.clearError(name);
        const code = this.rule(name);
        if (code) problems.push({ field: name, code, message: this.message(name, code) });
      }
      if (problems.length) return this.showErrors(problems, this.m.validation_failed);
      if (this.captchaExpired()) {
        await this.newCaptcha();
        return this.showErrors([{ field: "captcha_answer", message: this.message("captcha_answer", "captcha_expired") }]);
      }
      const data = { article_id: this.article, captcha_id: this.captchaId, website: this.honeypot.value };
      for (const [name, input] of Object.entries(this.inputs)) data[name] = input.value;
      if (!data.phone.trim()) delete data.phone;
      if (this.formToken) data.form_token = this.formToken;
      this.busy = true;
      this.button.disabled = true;
      this.button.textContent = this.t.sending;
      this.form.setAttribute("aria-busy", "true");
      try {
        const [res, body] = await this.call("v1/comments", { method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": this.idem }, body: JSON.stringify(data) });
        if (res.status === 202) return this.accepted();
        const errors = body.errors || [];
        const message = (body.error && body.error.message) || this.t.failed;
        if (errors.length) this.showErrors(errors, message);
        else { this.alert.textContent = message; this.summaryOfFields = false; }
        // A captcha is single use: after a wrong answer, or anything past the field checks, show a new one.
        if (res.status !== 422 || errors.some((e) => e.field.startsWith("captcha"))) {
          this.inputs.captcha_answer.value = "";
          this.newCaptcha();
        }
      } catch (e) {
        this.alert.textContent = this.t.network; // the same Idempotency-Key makes a retry safe
      } finally {
        this.busy = false;
        this.button.disabled = false;
        this.button.textContent = this.t.submit;
        this.form.removeAttribute("aria-busy");
      }
    }

    accepted() {
      this.form.reset();
      this.idem = randomKey();
      this.status.textContent = this.t.pending;
      this.newCaptcha();
      this.newToken();
    }

    // ?duyet=pending|error&fields=..&codes=..&code=..: the outcome of a form post without JavaScript.
    showOutcome(q) {
      const outcome = q.get("duyet");
      if (outcome === "pending") this.status.textContent = this.t.pending;
      if (outcome !== "error") return;
      const fields = (q.get("fields") || "").split(",").filter(Boolean);
      const codes = (q.get("codes") || "").split(",").filter(Boolean);
      // codes are de-duplicated: they pair with fields only when none repeated.
      const list = fields.map((f, i) => ({ field: f, message: this.message(f, codes.length === fields.length ? codes[i] : "") }));
      const code = q.get("code");
      const summary = fields.length ? this.m.validation_failed : (this.m[code] || this.t.failed);
      this.showErrors(list, summary);
    }

    async loadComments(more) {
      const path = this.article.split("/").map(encodeURIComponent).join("/");
      let url = `v1/articles/${path}/comments?limit=${this.pageSize}`;
      if (more && this.cursor) url += `&cursor=${encodeURIComponent(this.cursor)}`;
      this.more.disabled = true;
      try {
        const [res, body] = await this.call(url);
        if (!res.ok) throw new Error();
        const items = body.items || [];
        for (const c of items) {
          const time = h("time", { datetime: c.created_at || "" }, when(c.created_at));
          this.list.append(h("li", { part: "comment" }, h("article", {},
            h("div", {}, h("span", { class: "who" }, c.name), time), h("h4", {}, c.title), h("p", { class: "text" }, c.content))));
        }
        this.cursor = body.next_cursor;
        this.more.hidden = !this.cursor;
        this.listStatus.textContent = this.list.childElementCount ? "" : this.t.empty;
      } catch (e) {
        this.listStatus.textContent = this.t.loadFailed;
      } finally {
        this.more.disabled = false;
      }
    }
  }

  customElements.define("duyet-comments", DuyetComments);
  // Shown once by the widgets just upgraded; drop it so a reload does not show it again.
  const q = new URLSearchParams(location.search);
  if (q.has("duyet")) {
    for (const k of ["duyet", "fields", "codes", "code", "draft"]) q.delete(k);
    const rest = q.toString();
    history.replaceState(history.state, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
})();
