// textback's small live parts: the autoresponder switch saves itself, the
// message counter asks the server (the same counter that bills), copy
// buttons, and selects that submit on change. Everything works without it.
"use strict";

function postForm(url, data) {
  return fetch(url, {
    method: "POST",
    headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(data),
    credentials: "same-origin",
  });
}

function setupSwitch() {
  const form = document.getElementById("switch-form");
  const sw = document.getElementById("autoresponder-switch");
  if (!form || !sw) return;
  const saved = document.getElementById("switch-saved");
  const status = document.getElementById("autoresponder-status");
  const site = form.querySelector("input[name=site]").value;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const want = sw.getAttribute("aria-checked") !== "true";
    sw.disabled = true;
    saved.textContent = "Saving…";
    saved.className = "saved";
    try {
      const resp = await postForm(form.action, { site: site, enabled: String(want) });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || resp.statusText);
      sw.setAttribute("aria-checked", String(body.enabled));
      form.querySelector("input[name=enabled]").value = String(!body.enabled);
      saved.textContent = body.enabled ? "Saved: the autoresponder is on." : "Saved: the autoresponder is off.";
      status.className = "status " + body.status.class;
      status.textContent = body.status.text + " ";
      if (body.status.recharge) {
        const a = document.createElement("a");
        a.href = "/billing"; a.id = "recharge-link"; a.textContent = "Recharge credits";
        status.appendChild(a);
      }
    } catch (err) {
      saved.textContent = "Not saved: " + err.message;
      saved.className = "saved error";
    } finally {
      sw.disabled = false;
      sw.focus();
    }
  });
}

function setupCounter() {
  const msg = document.getElementById("message");
  const form = document.getElementById("message-form");
  if (!msg || !form) return;
  const site = form.querySelector("input[name=site]").value;
  const warning = document.getElementById("unicode-warning");
  let plain = null, timer = null, seq = 0;
  async function update() {
    const mine = ++seq;
    const resp = await postForm("/calls/autoresponder/preview", { site: site, message: msg.value });
    if (!resp.ok || mine !== seq) return;
    const p = await resp.json();
    document.getElementById("count-chars").textContent = p.characters;
    document.getElementById("count-encoding").textContent = p.encoding;
    document.getElementById("count-segments").textContent = p.segments;
    document.getElementById("unicode-chars").textContent = p.unicode_characters;
    warning.hidden = p.encoding !== "UCS-2";
    plain = p.plain || null;
    document.getElementById("make-plain").hidden = !plain;
  }
  msg.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 120); });
  document.getElementById("make-plain").addEventListener("click", async () => {
    if (plain === null) await update();
    if (plain !== null) { msg.value = plain; await update(); msg.focus(); }
  });
  update();
}

function setupCopy() {
  document.querySelectorAll("[data-copy]").forEach((btn) => {
    btn.addEventListener("click", async () => {
      const src = document.getElementById(btn.dataset.copy);
      const text = src.value !== undefined ? src.value : src.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
        btn.textContent = "Copied";
      } catch (e) {
        if (src.select) src.select();
        btn.textContent = "Press Ctrl+C";
      }
      setTimeout(() => { btn.textContent = "Copy"; }, 2000);
    });
  });
}

function setupAutosubmit() {
  document.querySelectorAll("select[data-autosubmit]").forEach((sel) => {
    sel.addEventListener("change", () => sel.form.submit());
  });
  document.querySelectorAll(".js-hide").forEach((el) => { el.hidden = true; });
}

// Forms with data-confirm ask first (removing a number, revoking a key,
// regenerating the webhook secret).
function setupConfirm() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupSwitch();
  setupCounter();
  setupCopy();
  setupAutosubmit();
  setupConfirm();
});
