// The console's only script: keep live parts of a page up to date, and preview a
// campaign as it is written. Every page reads and works without it.
//
// Live parts are fetched without following redirects: a refused fetch (the session
// ended: idle limit, 12 hours, signed out in another tab) shows "signed out — sign in
// again" at once instead of a list going silently stale. The Alerts table is updated
// row by row, so keyboard focus stays where it was; only new alerts are announced.
"use strict";

let signedIn = true;

function signedOut() {
  if (!signedIn) return;
  signedIn = false;
  const notice = document.getElementById("session-notice");
  if (notice) notice.hidden = false;
}

async function fetchLive(url, options = {}) {
  if (!signedIn) return null;
  try {
    const answer = await fetch(url, { credentials: "same-origin", redirect: "manual", ...options });
    if (answer.type === "opaqueredirect" || answer.status === 401 || answer.status === 403) {
      signedOut();
      return null;
    }
    return answer.ok ? answer : null;
  } catch (error) {
    return null; // offline for a moment: the next tick tries again
  }
}

function showCounts(alerts, inbox) {
  document.querySelectorAll("[data-count]").forEach((badge) => {
    const value = badge.dataset.count === "alerts" ? alerts : inbox;
    if (value === undefined) return;
    badge.firstChild.nodeValue = String(value);
    if (badge.dataset.count === "alerts") badge.classList.toggle("hot", value > 0);
  });
  if (alerts !== undefined) {
    const plain = document.title.replace(/^\(\d+\) /, "");
    document.title = alerts > 0 ? `(${alerts}) ${plain}` : plain;
  }
}

function watchCounts(url, seconds) {
  setInterval(async () => {
    const answer = await fetchLive(url, { headers: { Accept: "application/json" } });
    if (answer) {
      const counts = await answer.json();
      showCounts(counts.alerts, counts.inbox);
    }
  }, seconds * 1000);
}

function refreshEvery(element, seconds) {
  setInterval(async () => {
    const answer = await fetchLive(element.dataset.refresh, { headers: { Accept: "text/html" } });
    if (answer) element.innerHTML = await answer.text();
  }, seconds * 1000);
}

// --- Alerts -------------------------------------------------------------------------

const cues = {
  on: () => localStorage.getItem("followup-alert-cues") === "on",
  set(on) {
    localStorage.setItem("followup-alert-cues", on ? "on" : "off");
  },
};

function setUpCues(button) {
  const show = () => {
    button.setAttribute("aria-pressed", String(cues.on()));
    button.textContent = `Sound and desktop notice for new alerts: ${cues.on() ? "on" : "off"}`;
  };
  button.closest(".cues").hidden = false;
  show();
  button.addEventListener("click", async () => {
    const on = !cues.on();
    cues.set(on);
    if (on && "Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    show();
  });
}

function beep() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  const context = new Context();
  const tone = context.createOscillator();
  tone.frequency.value = 880;
  tone.connect(context.destination);
  tone.start();
  tone.stop(context.currentTime + 0.25);
}

function cue(rows) {
  if (!rows.length || !cues.on()) return;
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    // What a locked screen may show: the level and number, never a name.
    for (const row of rows) {
      new Notification(`New ${row.dataset.level} alert`, {
        body: `Alert ${row.id.replace("alert-", "#")}: open the console`,
        tag: row.id,
      });
    }
  }
}

function announce(rows) {
  const news = document.getElementById("alerts-news");
  if (!news || !rows.length) return;
  news.textContent = rows
    .map((row) => `New ${row.dataset.level} alert ${row.id.replace("alert-", "#")} for ${row.dataset.patient}.`)
    .join(" ");
}

function mergeAlerts(container, html) {
  const fresh = document.createElement("div");
  fresh.innerHTML = html;
  const freshBody = fresh.querySelector("#alerts-body");
  const oldBody = container.querySelector("#alerts-body");
  if (!freshBody || !oldBody) return;
  const oldRows = new Map([...oldBody.querySelectorAll("tbody tr[id]")].map((r) => [r.id, r]));
  const newRows = [...freshBody.querySelectorAll("tbody tr[id]")];
  const added = newRows.filter((row) => !oldRows.has(row.id));
  const tbody = oldBody.querySelector("tbody");
  if (!tbody || !newRows.length) {
    const hadFocus = oldBody.contains(document.activeElement);
    oldBody.replaceWith(freshBody);
    if (hadFocus) focusHeading();
  } else {
    let previous = null;
    for (const row of newRows) {
      let current = oldRows.get(row.id);
      if (current) {
        [...row.cells].forEach((cell, i) => {
          const old = current.cells[i];
          if (old && old.innerHTML !== cell.innerHTML) old.innerHTML = cell.innerHTML;
        });
        oldRows.delete(row.id);
      } else {
        current = row;
      }
      const expected = previous ? previous.nextElementSibling : tbody.firstElementChild;
      if (expected !== current) tbody.insertBefore(current, expected);
      previous = current;
    }
    for (const gone of oldRows.values()) {
      const hadFocus = gone.contains(document.activeElement);
      gone.remove();
      if (hadFocus) focusHeading();
    }
    oldBody.dataset.open = freshBody.dataset.open;
  }
  showCounts(Number(freshBody.dataset.open), Number(freshBody.dataset.inbox));
  announce(added);
  cue(added);
}

function focusHeading() {
  const heading = document.querySelector("main h1");
  heading.tabIndex = -1;
  heading.focus();
}

function watchAlerts(container, seconds) {
  setInterval(async () => {
    const answer = await fetchLive(container.dataset.refresh, { headers: { Accept: "text/html" } });
    if (answer) mergeAlerts(container, await answer.text());
  }, seconds * 1000);
}

// --- Campaign builder ---------------------------------------------------------------

function previewAsTyped(form) {
  const target = document.getElementById("preview");
  let timer = null;
  const update = async () => {
    const answer = await fetchLive(form.dataset.livePreview, { method: "POST", body: new FormData(form) });
    if (answer) target.innerHTML = await answer.text();
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 400);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const alerts = document.getElementById("alerts");
  if (alerts) watchAlerts(alerts, 3);
  document.querySelectorAll("[data-refresh]:not(#alerts)").forEach((element) => refreshEvery(element, 3));
  if (document.body.dataset.counts) watchCounts(document.body.dataset.counts, alerts ? 15 : 10);
  const button = document.getElementById("cues");
  if (button) setUpCues(button);
  document.querySelectorAll("form[data-live-preview]").forEach(previewAsTyped);
});
