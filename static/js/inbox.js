// LeadOps inbox: live countdowns to offer deadlines, inline refusals, and polling when no push.
// Loaded with <script src> (the CSP forbids inline scripts and handlers).
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Under an hour "m:ss left"; longer deadlines (low-intent segments) "2 h 05 min left".
  function format(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h > 0) { return h + " h " + pad(m) + " min left"; }
    return m + ":" + pad(s) + " left";
  }

  // Each countdown counts down from the server's "seconds left" using the local clock from the
  // moment it is first seen, so a skewed client clock does not matter.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-seconds]").forEach(function (el) {
      if (!el.dataset.until) {
        el.dataset.until = String(now + parseInt(el.dataset.seconds, 10) * 1000);
      }
      var left = Math.max(0, Math.round((parseInt(el.dataset.until, 10) - now) / 1000));
      if (left > 0) {
        el.textContent = format(left);
        el.classList.toggle("urgent", left <= 30);
      } else if (!el.classList.contains("expired")) {
        el.textContent = "expired: moving on";
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

  tick();
  setInterval(tick, 1000);
})();
