// smsg mailbox behaviour: live events (connection state, new mail, lock), the
// new-message window, attachment uploads with progress, picking connected users, drafts
// saved as they are typed, the reading pane, keyboard shortcuts and their help, Print.
// Served by the daemon; the page allows no inline script, so everything lives here.
"use strict";
// session.js may first put the page in place of a shell (CLIENT.md §2.5): start after it.
(window.smsgReady || Promise.resolve()).then(() => {
  const $ = (sel) => document.querySelector(sel);
  const token = () => (window.smsgToken ? window.smsgToken() : "");
  const body = document.body;
  const popupReturnMs = Number(body.dataset.popupReturn || "30") * 1000;
  const baseTitle = body.dataset.title || "smsg";

  // --- the tab title carries the unread count ---
  function setUnread(n) {
    document.title = `${n > 0 ? `(${n}) ` : ""}${baseTitle} — smsg`;
    const badge = $("#unread-badge");
    if (badge) badge.textContent = String(n);
  }

  // --- the new-message window: blinks while the page has focus; a click hides it for a
  // while (it comes back), its X dismisses it ---
  const popup = $("#popup");
  let returnTimer = 0;
  function blinkIfFocused() {
    if (!popup) return;
    popup.classList.toggle("blink", !popup.hidden && document.hasFocus());
  }
  function showPopup(m) {
    if (!popup) return;
    clearTimeout(returnTimer);
    delete popup.dataset.returnAt;
    $("#popup-from").textContent = `From ${m.from}`;
    $("#popup-subject").textContent = m.subject;
    $("#popup-read").setAttribute("href", `/messages/${encodeURIComponent(m.id)}`);
    popup.hidden = false;
    blinkIfFocused();
  }
  if (popup) {
    // data-return-at says when a hidden window comes back (absent: it will not).
    $("#popup-body").addEventListener("click", () => {
      popup.hidden = true;
      blinkIfFocused();
      clearTimeout(returnTimer);
      popup.dataset.returnAt = String(Date.now() + popupReturnMs);
      returnTimer = setTimeout(() => {
        delete popup.dataset.returnAt;
        popup.hidden = false;
        blinkIfFocused();
      }, popupReturnMs);
    });
    $("#popup-close").addEventListener("click", () => {
      clearTimeout(returnTimer);
      delete popup.dataset.returnAt;
      popup.hidden = true;
      blinkIfFocused();
    });
    window.addEventListener("focus", blinkIfFocused);
    window.addEventListener("blur", blinkIfFocused);
  }

  function chime() {
    if (body.dataset.sound !== "on") return;
    const a = $("#popup-sound");
    if (a) a.play().catch(() => {}); // autoplay rules may refuse before any click: no matter
  }

  // The system keeps notifications in its history, outside the mailbox's lock: sender and
  // subject go there only when the person asked for it (Settings).
  function notify(m) {
    if (!("Notification" in window) || Notification.permission !== "granted" || document.hasFocus()) return;
    try {
      if (body.dataset.notify === "details") new Notification(`smsg: message from ${m.from}`, { body: m.subject });
      else new Notification("New mail");
    } catch {}
  }
  // Ask once, on a click (browsers ignore requests without a gesture).
  document.addEventListener(
    "click",
    () => {
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    },
    { once: true },
  );

  // --- live list: a new message refreshes the inbox list when it is shown unfiltered ---
  async function refreshInbox() {
    const list = $("#list");
    if (!list || location.pathname !== "/inbox" || location.search) return;
    // Marked as the page's own request: it must not count as use (the idle lock, CLIENT.md §2.5).
    const res = await fetch("/inbox", { headers: { "HX-Request": "true", "X-Smsg-Auto": "1", "X-Smsg-Token": token() } });
    if (!res.ok) return;
    list.outerHTML = await res.text();
    const fresh = $("#list");
    if (fresh && window.htmx && window.htmx.process) window.htmx.process(fresh);
  }

  // --- server-sent events ---
  if (popup) {
    // An EventSource cannot set headers: the token goes in the query (never in history).
    const es = new EventSource(`/events?token=${encodeURIComponent(token())}`);
    es.addEventListener("message", (ev) => {
      const m = JSON.parse(ev.data);
      setUnread(m.unread);
      showPopup(m);
      chime();
      notify(m);
      refreshInbox().catch(() => {});
    });
    es.addEventListener("status", (ev) => {
      const s = JSON.parse(ev.data);
      const conn = $("#conn");
      if (conn) {
        conn.textContent = s.text;
        conn.className = `conn conn-${s.state === "connected" ? "up" : "down"}`;
      }
    });
    es.addEventListener("lock", () => {
      location.href = "/unlock";
    });
  }

  // --- compose: connected users fill To; uploads show progress; Send waits for them ---
  document.addEventListener("click", (ev) => {
    const pick = ev.target.closest && ev.target.closest(".user-pick");
    if (!pick) return;
    const to = $("#to");
    const have = to.value.split(",").map((s) => s.trim()).filter((s) => s);
    if (!have.includes(pick.dataset.user)) have.push(pick.dataset.user);
    to.value = have.join(", ");
    to.focus();
  });

  let uploading = 0;
  function sendEnabled() {
    const send = $("#send");
    if (send) send.disabled = uploading > 0;
  }
  document.addEventListener("change", (ev) => {
    const input = ev.target;
    if (!input || input.id !== "attachments" || !input.files) return;
    const list = $("#uploads");
    for (const file of Array.from(input.files)) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = file.name;
      name.dir = "auto";
      const bar = document.createElement("progress");
      bar.max = file.size || 1;
      bar.value = 0;
      bar.setAttribute("aria-label", `Uploading ${file.name}`);
      li.append(name, " ", bar);
      list.append(li);
      uploading++;
      sendEnabled();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/attachments");
      xhr.setRequestHeader("content-type", "application/octet-stream");
      xhr.setRequestHeader("X-Smsg-Token", token());
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) bar.value = e.loaded;
      });
      xhr.addEventListener("loadend", () => {
        uploading--;
        if (xhr.status === 200) {
          const r = JSON.parse(xhr.responseText);
          bar.value = bar.max;
          bar.setAttribute("aria-label", `Uploaded ${file.name}`);
          li.classList.add("done");
          for (const [k, v] of [["att", r.att], ["att_name", file.name]]) {
            const h = document.createElement("input");
            h.type = "hidden";
            h.name = k;
            h.value = v;
            li.append(h);
          }
          document.dispatchEvent(new Event("smsg:uploaded"));
        } else {
          li.classList.add("failed");
          const err = document.createElement("span");
          err.className = "field-error";
          err.textContent = ` upload failed: ${xhr.responseText || xhr.status}`;
          li.append(err);
        }
        sendEnabled();
      });
      xhr.send(file);
    }
    input.value = "";
  });

  // --- compose: the cursor goes to the empty top of a reply (top-posting) or its end ---
  const form = $("#compose");
  const text = $("#body");
  if (form && text && text.value) {
    text.focus();
    const at = form.dataset.cursor === "end" ? text.value.length : 0;
    text.setSelectionRange(at, at);
  }
  // --- drafts (CLIENT.md §2.8): the form is saved 2 s after the last change (at most 5 s
  // after the first unsaved one), and when the page is left; the first save's answer names
  // the draft the later ones overwrite. Listeners sit on the document: a form shown again
  // after a refused Send is a new element, and keeps saving into the same draft. ---
  if ($("#compose")) {
    let timer = 0;
    let dirtySince = 0;
    let saving = Promise.resolve();
    const state = (text) => {
      const el = $("#draft-state");
      if (el) el.textContent = text;
    };
    const save = (leaving) => {
      clearTimeout(timer);
      const f = $("form#compose");
      if (!dirtySince || !f) return;
      dirtySince = 0;
      const body = new URLSearchParams();
      for (const [k, v] of new FormData(f)) if (typeof v === "string" && k !== "_token") body.append(k, v);
      const req = () =>
        fetch("/drafts", {
          method: "POST",
          body: (() => {
            const field = $("#draft");
            if (field) body.set("draft", field.value); // the id the previous save gave
            return body;
          })(),
          keepalive: leaving,
          headers: { "X-Smsg-Token": token() },
        })
          .then(async (res) => {
            if (!res.ok) throw new Error(String(res.status));
            const r = await res.json();
            const field = $("#draft");
            if (field) field.value = r.draft;
            state(`Draft saved at ${new Date().toTimeString().slice(0, 8)}.`);
          })
          .catch(() => {
            dirtySince = dirtySince || Date.now(); // again at the next change or departure
            state("The draft could not be saved.");
          });
      // One save at a time: the first one's id must reach the field before the next goes.
      saving = leaving ? req() : saving.then(req);
    };
    const changed = () => {
      if (!$("form#compose")) return;
      dirtySince = dirtySince || Date.now();
      clearTimeout(timer);
      if (Date.now() - dirtySince >= 5000) save(false);
      else timer = setTimeout(() => save(false), 2000);
    };
    document.addEventListener("input", (ev) => {
      if (ev.target.closest && ev.target.closest("form#compose")) changed();
    });
    document.addEventListener("smsg:uploaded", changed);
    // Send is no draft to save: the send removes the draft on the daemon's side.
    document.addEventListener("submit", (ev) => {
      if (ev.target && ev.target.id === "compose") {
        dirtySince = 0;
        clearTimeout(timer);
      }
    }, true);
    window.addEventListener("pagehide", () => save(true));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") save(true);
    });
  }

  // --- the reading pane: on a wide window a click on a subject shows the message beside the
  // list (the list alone on a narrow one, where the link opens the message's page) ---
  const pane = $("#pane");
  const paneShown = () => pane && getComputedStyle(pane).display !== "none";
  const rows = () => Array.from(document.querySelectorAll("#list tbody tr"));
  let selected = -1;
  function select(i) {
    const all = rows();
    if (all.length === 0) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((r, j) => {
      r.classList.toggle("selected", j === selected);
      if (j === selected) r.setAttribute("aria-selected", "true");
      else r.removeAttribute("aria-selected");
    });
    all[selected].scrollIntoView({ block: "nearest" });
  }
  async function showInPane(row) {
    const link = row.querySelector("a.open");
    if (!link || !pane) return;
    const res = await fetch(`${link.getAttribute("href")}?pane=1`, { headers: { "HX-Request": "true", "X-Smsg-Token": token() } });
    if (!res.ok) return;
    pane.innerHTML = await res.text();
    // Showing it marks it read: the row loses its bold and its U.
    row.classList.remove("unread");
    for (const f of row.querySelectorAll(".flag-U")) f.remove();
    if (window.htmx && window.htmx.process) window.htmx.process(pane);
  }
  function open(row) {
    if (!row) return;
    if (paneShown()) showInPane(row).catch(() => {});
    else {
      const link = row.querySelector("a.open");
      if (link) location.href = link.getAttribute("href");
    }
  }
  document.addEventListener("click", (ev) => {
    const link = ev.target.closest && ev.target.closest("#list a.open");
    if (!link || !paneShown() || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    ev.preventDefault();
    const row = link.closest("tr");
    select(rows().indexOf(row));
    showInPane(row).catch(() => {});
  });

  // --- keyboard shortcuts, listed in the help that `?` shows (layout.tsx SHORTCUTS) ---
  const help = $("#help");
  function toggleHelp(show) {
    if (!help) return;
    help.hidden = !show;
    if (show) $("#help-close").focus();
  }
  if (help) $("#help-close").addEventListener("click", () => toggleHelp(false));
  /** The message being read: in the pane when it shows one, else the page's own. */
  const current = () => (paneShown() && pane.querySelector("article.message")) || $("main article.message");
  function press(key) {
    const m = current();
    const button = m && m.querySelector(`[data-key="${key}"]`);
    if (button) button.click();
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    if (ev.key === "Escape" && help && !help.hidden) {
      toggleHelp(false);
      return;
    }
    if (typing) return;
    switch (ev.key) {
      case "?":
        toggleHelp(help && help.hidden);
        break;
      case "j":
        select(selected + 1);
        if (paneShown()) open(rows()[selected]);
        break;
      case "k":
        select(selected < 0 ? 0 : selected - 1);
        if (paneShown()) open(rows()[selected]);
        break;
      case "o":
      case "Enter":
        if (selected < 0 || !rows()[selected]) return;
        open(rows()[selected]);
        break;
      case "r":
      case "a":
      case "f":
      case "#":
        press(ev.key);
        break;
      case "c":
        location.href = "/compose";
        break;
      case "/": {
        const search = $('input[type="search"]');
        if (!search) return;
        search.focus();
        break;
      }
      default:
        return;
    }
    ev.preventDefault();
  });

  // --- the print view's button ---
  const printButton = $("#print");
  if (printButton) printButton.addEventListener("click", () => window.print());
});
