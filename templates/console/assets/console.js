// The console's only script: refresh live parts of a page, and preview a campaign as
// it is written. Every page reads and works without it.
"use strict";

function refreshEvery(element, seconds) {
  const url = element.dataset.refresh;
  setInterval(async () => {
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (answer.ok && !answer.redirected) element.innerHTML = await answer.text();
    } catch (error) {
      // Offline for a moment: the next tick tries again.
    }
  }, seconds * 1000);
}

function previewAsTyped(form) {
  const target = document.getElementById("preview");
  let timer = null;
  const update = async () => {
    const answer = await fetch(form.dataset.livePreview, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
    });
    if (answer.ok) target.innerHTML = await answer.text();
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 400);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach((element) => refreshEvery(element, 3));
  document.querySelectorAll("form[data-live-preview]").forEach(previewAsTyped);
});
