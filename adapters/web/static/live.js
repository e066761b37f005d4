// Live pages: follow the API's event stream (the dashboard's cookie authenticates it) and ask
// htmx to re-fetch the live region when an event concerns it. Few lines on purpose: the
// server renders, the browser only knows when to ask again.
(function () {
  "use strict";
  var es = null;
  var timer = null;

  function region() { return document.getElementById("live"); }

  function concerns(el, data) {
    var watch = (el.getAttribute("data-watch") || "").split(" ").filter(Boolean);
    if (watch.length === 0) return true;
    for (var i = 0; i < watch.length; i++) {
      if (data.indexOf(watch[i]) >= 0) return true;
    }
    return false;
  }

  function refresh() {
    clearTimeout(timer);
    // Events come in bursts (requested, scheduled, running…): one fetch per burst.
    timer = setTimeout(function () {
      var el = region();
      if (el && window.htmx) window.htmx.trigger(el, "attune:refresh");
    }, 250);
  }

  function connect() {
    var el = region();
    if (!el || !window.EventSource) return;
    var url = el.getAttribute("data-live");
    if (!url) return;
    es = new EventSource(url);
    var types = (new URL(url, location.href).searchParams.get("type") || "").split(",");
    types.forEach(function (t) {
      es.addEventListener(t, function (e) {
        var now = region();
        if (now && concerns(now, e.data)) refresh();
      });
    });
    document.documentElement.classList.add("live-on");
    es.addEventListener("error", function () {
      document.documentElement.classList.remove("live-on");
    });
    es.addEventListener("open", function () {
      document.documentElement.classList.add("live-on");
      // The stream starts at the log's head when it opens: whatever happened between the
      // page's rendering and now is not in it, so fetch the region once more.
      refresh();
    });
  }

  // An execution's output while it runs: the worker's chunks, appended as they come. The
  // section is kept across the live region's refreshes (hx-preserve) and leaves with the
  // refresh that shows the execution ended, its final output in its place. EventSource
  // resumes a dropped stream after the last chunk it had (Last-Event-ID).
  var out = null;
  function follow() {
    var el = document.getElementById("live-output");
    if (!el || out || !window.EventSource) return;
    out = new EventSource(el.getAttribute("data-output"));
    out.addEventListener("output", function (e) {
      var c = JSON.parse(e.data);
      var pre = document.getElementById(c.stream === "stderr" ? "live-stderr" : "live-stdout");
      if (pre) pre.textContent += c.data;
    });
    out.addEventListener("end", function () {
      out.close();
      refresh();
    });
  }

  // Marks the page as caught up with the stream once a refresh has landed (tests wait on it).
  document.addEventListener("htmx:afterSettle", function () {
    document.documentElement.setAttribute("data-live-synced", "");
  });
  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("DOMContentLoaded", follow);
  window.addEventListener("pagehide", function () {
    if (es) es.close();
    if (out) out.close();
  });
})();
