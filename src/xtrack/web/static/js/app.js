// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Keep relative times ("3 min ago") fresh; the server already rendered a correct value.
  function relative(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var future = seconds > 0;
    var s = Math.abs(seconds);
    var text;
    if (s < 45) { text = "just now"; return text; }
    else if (s < 3600) { text = Math.round(s / 60) + " min"; }
    else if (s < 86400) { text = Math.round(s / 3600) + " h"; }
    else { text = Math.round(s / 86400) + " d"; }
    return future ? "in " + text : text + " ago";
  }
  function refreshTimes() {
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) { el.textContent = relative(d); }
    });
  }
  setInterval(refreshTimes, 60000);
  // Disable submit buttons once a form is sent, so a double click does not post twice.
  document.addEventListener("submit", function (event) {
    var button = event.submitter || event.target.querySelector("button[type=submit]");
    if (button && !button.dataset.busy) {
      button.dataset.busy = "1";
      button.dataset.label = button.textContent;
      button.textContent = button.dataset.busyLabel || "Saving…";
      setTimeout(function () { button.disabled = true; }, 0);
    }
  });
})();
// Registration: pre-fill the hidden time zone field with the browser's zone (the server falls back to UTC).
(function () {
  "use strict";
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  document.querySelectorAll("input[data-browser-timezone]").forEach(function (input) {
    if (!input.value && zone) { input.value = zone; }
  });
})();
