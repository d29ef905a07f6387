// Live updates and small enhancements under a strict CSP (script-src 'self'; no inline code).
// Every page works without this file: it only refreshes what the server already rendered.
//
// Polling protocol (see src/xtrack/web/live.py for the server side):
//   <div data-poll-url="/jobs/7/runs/poll" data-poll-active="true" data-poll-since="…">…</div>
//   - While active and the tab is visible, GET data-poll-url?since=<since> every 2 s
//     (data-poll-interval overrides, in ms). Never while the tab is hidden.
//   - 204: nothing changed. 200: the body is an HTML fragment (escaped by the server) that
//     replaces the element's content. Header X-Poll-Since is the next `since`; X-Poll-Active
//     "true"/"false" says whether to continue (without it: continue while the element still
//     contains a [data-active] status badge).
//   - 401/403/404/410: stop. Other errors: retry with back-off up to 30 s.
//   - data-poll-reload-when-done: reload the page once nothing is active (buttons such as
//     "Run now" re-enable).
//   Status changes are announced through an aria-live="polite" region.
(function () {
  "use strict";

  var DEFAULT_INTERVAL = 2000;
  var MAX_DELAY = 30000;
  var announcer = null;

  function liveRegion() {
    if (!announcer) {
      announcer = document.createElement("div");
      announcer.className = "visually-hidden";
      announcer.setAttribute("role", "status");
      announcer.setAttribute("aria-live", "polite");
      document.body.appendChild(announcer);
    }
    return announcer;
  }

  function announce(text) {
    var region = liveRegion();
    region.textContent = "";
    // A separate task, so screen readers notice the change even when the text repeats.
    setTimeout(function () { region.textContent = text; }, 50);
  }

  function statuses(root) {
    var found = {};
    root.querySelectorAll("[data-run-id][data-status]").forEach(function (badge) {
      found[badge.getAttribute("data-run-id")] = {
        status: badge.getAttribute("data-status"),
        label: (badge.textContent || "").trim()
      };
    });
    return found;
  }

  function withSince(url, since) {
    var separator = url.indexOf("?") === -1 ? "?" : "&";
    return url + separator + "since=" + encodeURIComponent(since || "");
  }

  function Poller(element) {
    this.element = element;
    this.url = element.getAttribute("data-poll-url");
    this.since = element.getAttribute("data-poll-since") || "";
    var declared = element.getAttribute("data-poll-active");
    this.active = declared === null ? this.hasActiveRuns() : declared === "true";
    this.interval = parseInt(element.getAttribute("data-poll-interval"), 10) || DEFAULT_INTERVAL;
    this.delay = this.interval;
    this.timer = null;
    this.inFlight = false;
    this.lastHtml = null;
  }

  Poller.prototype.hasActiveRuns = function () {
    return this.element.querySelector("[data-active]") !== null;
  };

  Poller.prototype.schedule = function (delay) {
    if (!this.active || document.hidden || this.timer !== null || this.inFlight) { return; }
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self.poll(); }, delay);
  };

  Poller.prototype.pause = function () {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
  };

  Poller.prototype.stop = function () {
    this.active = false;
    this.element.setAttribute("data-poll-active", "false");
    this.pause();
    if (this.element.hasAttribute("data-poll-reload-when-done")) { window.location.reload(); }
  };

  Poller.prototype.poll = function () {
    var self = this;
    this.inFlight = true;
    fetch(withSince(this.url, this.since), {
      headers: { "Accept": "text/html", "X-Requested-With": "live.js" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 204) { return self.settle(response, null); }
      if (response.ok) {
        return response.text().then(function (html) { self.settle(response, html); });
      }
      if ([401, 403, 404, 410].indexOf(response.status) !== -1) {
        self.inFlight = false;
        self.stop();
        return null;
      }
      throw new Error("poll failed with " + response.status);
    }).catch(function () {
      self.delay = Math.min(self.delay * 2, MAX_DELAY);
    }).then(function () {
      self.inFlight = false;
      self.schedule(self.delay);
    });
  };

  Poller.prototype.settle = function (response, html) {
    this.delay = this.interval;
    var since = response.headers.get("X-Poll-Since");
    if (since !== null) {
      this.since = since;
      this.element.setAttribute("data-poll-since", since);
    }
    if (html !== null && html !== this.lastHtml) {
      this.lastHtml = html;
      this.swap(html);
    }
    var activeHeader = response.headers.get("X-Poll-Active");
    var active = activeHeader === null ? this.hasActiveRuns() : activeHeader === "true";
    if (!active) {
      this.inFlight = false;
      this.stop();
    }
  };

  Poller.prototype.swap = function (html) {
    var element = this.element;
    var before = statuses(element);
    // Keep what the reader was doing: the focused control and expanded <details>, by id.
    var focused = document.activeElement && element.contains(document.activeElement)
      ? document.activeElement.id : "";
    var open = [];
    element.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });

    element.innerHTML = html;

    open.forEach(function (id) {
      var details = document.getElementById(id);
      if (details && element.contains(details)) { details.open = true; }
    });
    if (focused) {
      var again = document.getElementById(focused);
      if (again) { again.focus(); }
    }
    var after = statuses(element);
    var changes = [];
    Object.keys(after).forEach(function (id) {
      var was = before[id];
      if (!was || was.status !== after[id].status) {
        changes.push("Run " + id + ": " + after[id].label);
      }
    });
    if (changes.length) { announce(changes.join(". ")); }
  };

  function startPolling() {
    var pollers = [];
    document.querySelectorAll("[data-poll-url]").forEach(function (element) {
      var poller = new Poller(element);
      pollers.push(poller);
      poller.schedule(poller.interval);
    });
    document.addEventListener("visibilitychange", function () {
      pollers.forEach(function (poller) {
        if (document.hidden) { poller.pause(); } else { poller.schedule(0); }
      });
    });
  }

  // "Copy as Markdown": <button data-copy-target="#summary-markdown" hidden> (shown here).
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.className = "visually-hidden";
      area.value = text;
      area.setAttribute("readonly", "");
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      var target = document.querySelector(button.getAttribute("data-copy-target"));
      if (!target) { return; }
      var label = button.querySelector("[data-copy-label]") || button;
      var original = label.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = typeof target.value === "string" ? target.value : target.textContent;
        copyText(text).then(function () {
          label.textContent = "Copied";
          announce("Copied to the clipboard");
        }, function () {
          label.textContent = "Copy failed: select the text and copy it";
          announce("Copy failed");
        }).then(function () {
          setTimeout(function () { label.textContent = original; }, 2500);
        });
      });
    });
  }

  // Forms returned with errors: focus the error summary; its links focus their field.
  function setUpErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var field = document.getElementById(link.getAttribute("href").slice(1));
      if (!field) { return; }
      event.preventDefault();
      var label = document.querySelector("label[for='" + field.id + "']");
      (label || field).scrollIntoView({ block: "center" });
      field.focus({ preventScroll: true });
    });
  }

  startPolling();
  setUpCopyButtons();
  setUpErrorSummary();
})();
