// smsg page sessions (CLIENT.md §2.5, SECURITY.md §9): the browser sends a loopback cookie to
// every port of the host, so a session is the cookie AND a token that only this origin
// (scheme, host and port) holds: it arrives once in the URL fragment after Unlock or an
// admin login (never sent to any server), lives in this origin's localStorage, and goes in
// the X-Smsg-Token header of every request the page makes, in the `_token` field of its form
// posts. A navigation (which cannot carry a header) gets a shell without data: this script
// then fetches the page with the token and puts it in place. Shared by mailbox and admin page.
"use strict";
(() => {
  const KEY = "smsg-token";
  const m = /^#t=([A-Za-z0-9_-]{20,100})$/.exec(location.hash);
  if (m) {
    localStorage.setItem(KEY, m[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = () => localStorage.getItem(KEY) || "";
  window.smsgToken = token;

  // htmx 4's event (detail.ctx.request) before each of its requests.
  document.addEventListener("htmx:config:request", (ev) => {
    ev.detail.ctx.request.headers["X-Smsg-Token"] = token();
  });
  // A plain form post is a navigation: the token goes as a field.
  document.addEventListener(
    "submit",
    (ev) => {
      const form = ev.target;
      if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
      let field = form.querySelector('input[name="_token"]');
      if (!field) {
        field = document.createElement("input");
        field.type = "hidden";
        field.name = "_token";
        form.append(field);
      }
      field.value = token();
    },
    true,
  );

  async function boot() {
    const res = await fetch(location.pathname + location.search, { headers: { "X-Smsg-Token": token() } });
    // Locked or lapsed: the mailbox says where to go (HX-Redirect) or redirects; the admin
    // page answers with its log-in page, shown as it is.
    const to = res.headers.get("hx-redirect") || (res.redirected ? res.url : "");
    if (to) {
      location.replace(to);
      return;
    }
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    document.title = doc.title;
    document.body.replaceWith(document.adoptNode(doc.body));
    if (window.htmx) window.htmx.process(document.body);
  }
  window.smsgReady = (document.body && document.body.hasAttribute("data-shell") ? boot() : Promise.resolve()).then(() => {
    document.documentElement.dataset.ready = "1";
  });
})();
