// Live alerts for the EHCP workspace (progressive: every page works without this script).
// Listens to /events/alerts (server-sent events); announces each new alert in the polite live
// region and, on the work tray, refreshes the results in place so a new overdue item appears.
(function () {
  "use strict";
  var region = document.getElementById("live-alerts");
  if (!region || !window.EventSource) { return; }
  var source = new EventSource(region.getAttribute("data-live-url"));
  function refreshTray() {
    var tray = document.getElementById("tray-results");
    if (!tray) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("tray-results");
        if (fresh) { tray.replaceWith(fresh); }
        // New agencies and stages become choices too (unless the user is in that list now).
        ["agency", "stage"].forEach(function (id) {
          var mine = document.getElementById(id), theirs = doc.getElementById(id);
          if (mine && theirs && document.activeElement !== mine) {
            var chosen = mine.value;
            mine.innerHTML = theirs.innerHTML;
            mine.value = chosen;
          }
        });
      });
  }
  source.addEventListener("alert", function (event) {
    var alert = JSON.parse(event.data);
    var p = document.createElement("p");
    var text = "New alert (" + alert.status.toLowerCase() + "): " + alert.message;
    if (alert.case_id) {
      var a = document.createElement("a");
      a.href = "/cases/" + encodeURIComponent(alert.case_id);
      a.textContent = alert.case_id;
      p.appendChild(a);
      p.appendChild(document.createTextNode(" " + text));
    } else {
      p.textContent = text;
    }
    region.insertBefore(p, region.firstChild);
    while (region.children.length > 5) { region.removeChild(region.lastChild); }
    refreshTray();
  });
  source.addEventListener("signed-out", function () { source.close(); });
})();
