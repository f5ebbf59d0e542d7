// live.js: keeps a page in step with its session across tabs and app
// instances, over the Server-Sent Events of ginsession/live.
//
//   <script src="/live.js"></script>
//   <script>
//     var live = SessionLive.connect({
//       url: "/api/events",        // live.Handler (default "/api/events")
//       stateURL: "/api/state",    // live.StateHandler, checked before reconnecting (optional)
//       loginURL: "/",             // where logout, revoked and evicted go (default "/")
//       onPlatform: function (m) { location.reload(); },  // platform_switched (this is the default)
//       onEvent: function (kind, m) {}                     // every event, before the default action
//     });
//     // live.close() stops it.
//   </script>
//
// rotated reconnects at once (with the new cookie); a lost stream
// reconnects after 1 s, doubling up to 30 s, with jitter.
(function (root) {
  "use strict";
  function connect(o) {
    o = o || {};
    var url = o.url || "/api/events", login = o.loginURL || "/";
    var onPlatform = o.onPlatform || function () { root.location.reload(); };
    var onEvent = o.onEvent || function () {};
    var es = null, timer = null, delay = 1000, closed = false;
    function data(e) { try { return JSON.parse(e.data); } catch (_) { return {}; } }
    function leave(e) { stop(); onEvent(e.type, data(e)); root.location.assign(login); }
    function open() {
      if (closed) return;
      es = new EventSource(url);
      es.onopen = function () { delay = 1000; };
      es.onerror = function () { es.close(); retry(); };
      es.addEventListener("platform_switched", function (e) { var m = data(e); onEvent(e.type, m); onPlatform(m); });
      ["logout", "revoked", "evicted"].forEach(function (k) { es.addEventListener(k, leave); });
      es.addEventListener("rotated", function (e) { onEvent(e.type, data(e)); es.close(); open(); });
      es.addEventListener("resync", function (e) {
        // Events may have been missed: a session that has ended meanwhile
        // leaves, as its logout would have made it.
        var m = data(e);
        if (!o.stateURL) return onEvent(e.type, m);
        fetch(o.stateURL, { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (s) { if (s.session) onEvent("resync", m); else leave({ type: "logout", data: "{}" }); },
                function () { onEvent("resync", m); });
      });
    }
    function retry() {
      if (closed) return;
      timer = setTimeout(function () {
        if (!o.stateURL) return open();
        fetch(o.stateURL, { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (s) { if (s.session) open(); else leave({ type: "logout", data: "{}" }); }, retry);
      }, delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, 30000);
    }
    function stop() { closed = true; clearTimeout(timer); if (es) es.close(); }
    open();
    return { close: stop };
  }
  root.SessionLive = { connect: connect };
})(window);
