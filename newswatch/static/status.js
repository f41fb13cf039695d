// The status pages refresh themselves: every few seconds the page fetches its own URL again and
// swaps in the parts marked data-live, so an operator can leave it open. No reload, no library:
// the server renders (and escapes) everything; this only moves server-rendered nodes across.
(() => {
  "use strict";
  const seconds = Number(document.body.dataset.refresh) || 0;
  const state = document.getElementById("live-state");
  if (seconds <= 0 || !state || !window.fetch || !window.DOMParser) return;
  let refreshes = 0;
  let busy = false;

  function show(word, css, title) {
    state.textContent = word;
    state.className = "badge " + css;
    if (title) state.title = title;
  }

  async function refresh() {
    if (busy || document.hidden) return;
    // An operator selecting text to copy would lose the selection: wait for the next round.
    const selection = window.getSelection && window.getSelection();
    if (selection && !selection.isCollapsed) return;
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        cache: "no-store",
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const part of document.querySelectorAll("[data-live][id]")) {
        const replacement = fresh.getElementById(part.id);
        if (replacement) part.replaceChildren(...Array.from(replacement.childNodes, (n) => document.importNode(n, true)));
      }
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      show("live", "live", "refreshed every " + seconds + " s; last at " + new Date().toLocaleTimeString());
    } catch (error) {
      show("offline, retrying", "offline", "the last refresh failed: " + error.message);
    } finally {
      busy = false;
    }
  }

  show("live", "live", "refreshed every " + seconds + " s");
  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) show("paused", "paused", "paused while the tab is hidden");
    else refresh();
  });
})();
