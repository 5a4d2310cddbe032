// LeadOps inbox: live countdowns to offer deadlines, inline refusals, and polling when no push.
// Loaded with <script src> (the CSP forbids inline scripts and handlers).
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Under an hour "m:ss left"; longer deadlines (low-intent segments) "2 h 05 min left".
  // The server renders the same text first (reps/templatetags/inbox_tags.py countdown).
  function format(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h > 0) { return h + " h " + pad(m) + " min left"; }
    return m + ":" + pad(s) + " left";
  }

  // A countdown runs on its segment's SLA clock. The server renders "now", the deadline and,
  // for business time, the open stretches until the deadline (data-schedule, UTC): the clock
  // runs inside them and visibly pauses outside them (nights, weekends, holidays, absences).
  // Time is the server's "now" plus what the local clock has moved since the element was
  // first seen, so a skewed client clock does not matter.
  function clockNow(el, local) {
    if (!el.dataset.seen) {
      el.dataset.seen = String(local);
      el.dataset.base = String(Date.parse(el.dataset.now) || local);
    }
    return parseInt(el.dataset.base, 10) + (local - parseInt(el.dataset.seen, 10));
  }

  function stretches(el) {
    if (el.dataset.schedule === undefined) { return null; }
    if (!el._stretches) {
      try {
        el._stretches = JSON.parse(el.dataset.schedule).map(function (p) { return [Date.parse(p[0]), Date.parse(p[1])]; });
      } catch (e) { el._stretches = []; }
    }
    return el._stretches;
  }

  // Seconds left at instant t, whether the clock runs at t, and when it resumes if not.
  function state(el, t) {
    var deadline = Date.parse(el.dataset.deadline);
    var open = stretches(el);
    if (open === null || isNaN(deadline)) {
      if (isNaN(deadline)) { deadline = t + parseInt(el.dataset.seconds, 10) * 1000; }
      return { left: Math.max(0, Math.round((deadline - t) / 1000)), running: true, resumes: null };
    }
    var ms = 0, running = false, resumes = null, resumesAt = -1;
    open.forEach(function (p, i) {
      var a = Math.max(p[0], t), b = Math.min(p[1], deadline);
      if (b > a) { ms += b - a; }
      if (p[0] <= t && t < p[1]) { running = true; }
      if (p[0] > t && (resumes === null || p[0] < resumes)) { resumes = p[0]; resumesAt = i; }
    });
    return { left: Math.round(ms / 1000), running: running, resumes: resumes, index: resumesAt };
  }

  // "Tue 09:00 EST": the server renders the label of every stretch start (data-resume-labels,
  // in the rep's timezone, Django's "D H:i T"), so the script says exactly what the page said.
  function when(el, s) {
    try {
      var labels = JSON.parse(el.dataset.resumeLabels || "[]");
      if (labels[s.index]) { return labels[s.index]; }
    } catch (e) { /* fall through */ }
    return new Date(s.resumes).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function tick() {
    var local = Date.now();
    document.querySelectorAll(".countdown[data-seconds]").forEach(function (el) {
      var s = state(el, clockNow(el, local));
      el.dataset.running = s.running ? "yes" : "no";
      el.dataset.left = String(s.left);
      if (s.left > 0) {
        el.textContent = format(s.left) + (s.running ? "" : ", paused until " + when(el, s));
        el.classList.toggle("paused", !s.running);
        el.classList.toggle("urgent", s.running && s.left <= 30);
      } else if (!el.classList.contains("expired")) {
        el.textContent = "expired: moving on";
        el.classList.remove("paused");
        el.classList.add("expired");
        var card = el.closest(".offer");
        if (card) {
          card.classList.add("expired");
          card.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        }
      }
    });
  }

  // Refusals (403 not yours, 409 already decided/expired, 422 invalid form) carry the region
  // with the message: swap them like a success so the rep sees why.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var status = evt.detail.xhr.status;
    if (status === 403 || status === 409 || status === 422) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // Fallback polling: the offers region refreshes every data-poll-seconds only while no event
  // stream is open (no push on this server, or the stream dropped and htmx-ext-sse is
  // reconnecting). With the stream open, an idle inbox sends no requests at all.
  var live = document.getElementById("inbox-live");
  if (live) {
    var streamOpen = false;
    var seconds = parseInt(live.dataset.pollSeconds || "3", 10);
    live.addEventListener("htmx:sseOpen", function () { streamOpen = true; });
    live.addEventListener("htmx:sseError", function () { streamOpen = false; });
    live.addEventListener("htmx:sseClose", function () { streamOpen = false; });
    setInterval(function () {
      var offers = document.getElementById("inbox-offers");
      if (!streamOpen && offers) { htmx.trigger(offers, "inbox-poll"); }
    }, Math.max(seconds, 1) * 1000);
  }

  // Pushed offers (reps.views.OffersFeed): an "offers" event on the stream carries the live offer
  // ids, newest first (data-live), the cards of those the page did not have when it was sent, and
  // the note on how many are open. Cards already on the page stay as they are (a reason being
  // typed survives); cards no longer live go; the rest are put in the server's order. A live offer
  // the page still lacks (say an action's answer replaced the list meanwhile) is asked for, as an
  // "inbox" event would. Nothing here trusts the event's HTML beyond what the server rendered.
  var lastLive = null;      // the live ids the last offers event named

  function applyOffers(html) {
    var cards = document.getElementById("offer-cards");
    var region = document.getElementById("inbox-offers");
    if (!cards || !region) { return; }
    var box = document.createElement("template");
    box.innerHTML = html;
    var meta = box.content.querySelector("[data-live]");
    if (!meta) { return; }
    var live = meta.dataset.live ? meta.dataset.live.split(",") : [];
    lastLive = live;
    var wanted = {};
    live.forEach(function (id) { wanted["offer-" + id] = true; });
    Array.prototype.slice.call(cards.children).forEach(function (el) {
      if (el.id && el.id.indexOf("offer-") === 0 && !wanted[el.id]) { el.remove(); }
    });
    var delivered = {};
    meta.querySelectorAll(".offer[id^='offer-']").forEach(function (card) { delivered[card.id] = card; });
    var added = [], missing = false, previous = null;
    live.forEach(function (id) {
      var el = document.getElementById("offer-" + id);
      if (!el && delivered["offer-" + id]) { el = delivered["offer-" + id]; added.push(el); }
      if (!el) { missing = true; return; }
      var slot = previous ? previous.nextElementSibling : cards.firstElementChild;
      if (el !== slot) { cards.insertBefore(el, slot); }
      previous = el;
    });
    added.forEach(function (el) { htmx.process(el); });
    var shown = live.filter(function (id) { return !!document.getElementById("offer-" + id); });
    var have = document.getElementById("inbox-have");
    if (have) { have.value = shown.join(","); }
    var empty = document.getElementById("offers-empty");
    if (empty) { empty.hidden = shown.length > 0; }
    var more = meta.querySelector("#offers-more"), oldMore = document.getElementById("offers-more");
    if (more && oldMore) { oldMore.replaceWith(more); }
    if (missing) { htmx.trigger(region, "inbox-poll"); }
    markOffers();
    tick();
  }

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (!evt.target || evt.target.id !== "inbox-push") { return; }
    evt.preventDefault();  // applied here, not swapped by htmx
    applyOffers(evt.detail.data);
  });

  // An action's answer (accept, decline, first touch) re-renders the offers region from the
  // database as it was then; an offer pushed meanwhile may be missing from it: ask once for it.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (!lastLive || !evt.detail || !evt.detail.requestConfig || evt.detail.requestConfig.verb !== "post") { return; }
    var region = document.getElementById("inbox-offers");
    if (!region || !lastLive.length) { return; }
    var lacks = lastLive.some(function (id) {
      return !document.getElementById("offer-" + id) && (evt.detail.requestConfig.path || "").indexOf("/offers/" + id + "/") < 0;
    });
    if (lacks) { htmx.trigger(region, "inbox-poll"); }
  });

  // Signed out meanwhile (elsewhere, expired, deactivated): an ask of this page is redirected to
  // the login page. Go there instead of showing cards that can no longer be acted on.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail && evt.detail.xhr;
    if (!xhr || !xhr.responseURL) { return; }
    var box = document.getElementById("inbox-live");
    var login = box && box.dataset.loginUrl;
    try {
      var url = new URL(xhr.responseURL);
      if (login && url.origin === window.location.origin && url.pathname === login) { window.location.assign(url.href); }
    } catch (e) { /* not a URL: ignore */ }
  });

  // New offers: highlighted with a "New" tag for a while, an optional sound, and the count of
  // open offers in the tab title ("(2) Inbox · LeadOps"). The server puts new offers at the top.
  var seen = null;          // offer ids already on the page (null until the first look)
  var arrived = {};         // offer id -> when it first appeared (ms), for the highlight
  var HIGHLIGHT_MS = 20000;
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var soundBox = document.getElementById("inbox-sound");
  var audio = null;

  function soundOn() { return !!(soundBox && soundBox.checked); }
  if (soundBox) {
    try { soundBox.checked = window.localStorage.getItem("leadops-inbox-sound") === "on"; } catch (e) { /* private mode */ }
    soundBox.addEventListener("change", function () {
      try { window.localStorage.setItem("leadops-inbox-sound", soundBox.checked ? "on" : "off"); } catch (e) { /* ignore */ }
      if (soundBox.checked) { chime(); }  // a click is the gesture browsers need before playing audio
    });
  }

  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain(), t = audio.currentTime;
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(1320, t + 0.12);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(t); osc.stop(t + 0.32);
      document.body.dataset.chimes = String(parseInt(document.body.dataset.chimes || "0", 10) + 1);
    } catch (e) { /* no audio on this device */ }
  }

  function markOffers() {
    var cards = document.querySelectorAll("#inbox-offers .offer[data-offer-id]");
    var now = Date.now(), fresh = 0, ids = {};
    cards.forEach(function (card) {
      var id = card.dataset.offerId;
      ids[id] = true;
      if (seen !== null && !seen[id] && !arrived[id]) { arrived[id] = now; fresh += 1; }
      card.classList.toggle("is-new", !!arrived[id] && now - arrived[id] < HIGHLIGHT_MS);
    });
    seen = ids;
    // The inbox shows the newest offers only; #offers-more carries how many are open in all.
    var more = document.getElementById("offers-more");
    var total = Math.max(cards.length, more ? parseInt(more.dataset.total || "0", 10) || 0 : 0);
    document.title = (total ? "(" + total + ") " : "") + baseTitle;
    if (fresh && soundOn()) { chime(); }
  }
  document.addEventListener("htmx:afterSettle", markOffers);
  setInterval(function () {  // the highlight fades once the offer is no longer new
    var now = Date.now();
    document.querySelectorAll("#inbox-offers .offer.is-new").forEach(function (card) {
      if (now - (arrived[card.dataset.offerId] || 0) >= HIGHLIGHT_MS) { card.classList.remove("is-new"); }
    });
  }, 1000);

  window.LeadOpsInbox = { format: format };  // read by the tests: same text as the server's
  markOffers();
  tick();
  setInterval(tick, 1000);
})();
