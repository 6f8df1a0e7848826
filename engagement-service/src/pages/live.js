// Live leaderboards: each [data-live] region listens to the event stream
// named in the attribute and takes the rows the server rendered (and
// escaped) when scores change. Without JavaScript the page is the same,
// only static.
(function () {
  "use strict";
  if (!window.EventSource || !window.JSON) {
    return;
  }
  var regions = document.querySelectorAll("[data-live]");
  Array.prototype.forEach.call(regions, function (region) {
    var status = document.getElementById(region.getAttribute("data-status"));
    var say = function (text) {
      if (status) {
        status.textContent = text;
      }
    };
    var source = new EventSource(region.getAttribute("data-live"));
    source.onopen = function () {
      region.setAttribute("data-state", "live");
      say("Live: scores update as they change.");
    };
    source.onmessage = function (event) {
      var update = JSON.parse(event.data);
      if (update.version === region.getAttribute("data-version")) {
        return;
      }
      region.innerHTML = update.html;
      region.setAttribute("data-version", update.version);
      say("Updated at " + new Date().toLocaleTimeString() + ".");
    };
    source.onerror = function () {
      // The browser reconnects by itself unless the stream was refused.
      var closed = source.readyState === EventSource.CLOSED;
      region.setAttribute("data-state", closed ? "closed" : "reconnecting");
      say(closed ? "Live updates are off: reload the page to see new scores." : "Reconnecting…");
    };
  });
})();
