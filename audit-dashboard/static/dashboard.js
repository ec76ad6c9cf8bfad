// audit-dashboard: progressive enhancement only. Every page works without this file.
// Nothing here builds HTML from strings: rows are made with createElement/textContent.
(function () {
  "use strict";

  // Keyboard paging: ← / → (or k / j) follow the page's rel=prev / rel=next link.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey || (t && /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName))) {
      return;
    }
    var rel = { ArrowLeft: "prev", k: "prev", ArrowRight: "next", j: "next" }[e.key];
    if (!rel) { return; }
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.assign(link.href); }
  });

  function cell(row, cls, build) {
    var td = document.createElement("td");
    td.className = cls;
    build(td);
    row.appendChild(td);
  }

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    el.textContent = value;
    return el;
  }

  function link(href, value) {
    var a = document.createElement("a");
    a.href = href;
    a.appendChild(text("bdi", value));
    return a;
  }

  function eventRow(r) {
    var tr = document.createElement("tr");
    tr.className = "event fresh";
    cell(tr, "c-seq", function (td) { var a = document.createElement("a"); a.href = r.href; a.textContent = String(r.seq); td.appendChild(a); });
    cell(tr, "c-time", function (td) { var t = text("time", r.time); t.setAttribute("datetime", r.time_iso); td.appendChild(t); });
    cell(tr, "c-action", function (td) { td.appendChild(text("bdi", r.action)); });
    cell(tr, "c-outcome", function (td) { td.appendChild(text("span", r.outcome, "badge " + r.outcome)); });
    cell(tr, "c-actor", function (td) { if (r.actor) { td.appendChild(link(r.actor.href, r.actor.text)); } });
    cell(tr, "c-entity", function (td) { if (r.entity) { td.appendChild(link(r.entity.href, r.entity.text)); } });
    cell(tr, "c-desc", function (td) { td.appendChild(text("bdi", r.description)); });
    return tr;
  }

  // Live view: poll the feed for events after the newest one shown.
  var live = document.getElementById("live");
  if (live) {
    var body = live.querySelector("tbody");
    var after = live.getAttribute("data-after") || "0";
    var poll = parseInt(live.getAttribute("data-poll"), 10) || 2000;
    var feed = live.getAttribute("data-feed");
    var tick = function () {
      var url = feed + (feed.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          data.rows.forEach(function (r) { body.insertBefore(eventRow(r), body.firstChild); });
          while (body.rows.length > 200) { body.deleteRow(body.rows.length - 1); }
          after = String(data.last);
        })
        .catch(function () { /* try again on the next tick */ })
        .then(function () { window.setTimeout(tick, poll); });
    };
    window.setTimeout(tick, poll);
  }

  // Verification progress: poll the status while a run is going, reload when it ends.
  var running = document.getElementById("verify-running");
  if (running) {
    var status = running.getAttribute("data-status");
    var bar = document.getElementById("verify-progress");
    var line = document.getElementById("verify-line");
    var check = function () {
      fetch(status, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (data) {
          if (data && data.running) {
            bar.max = data.running.total;
            bar.value = data.running.checked;
            line.textContent = data.running.line;
            window.setTimeout(check, 500);
          } else {
            window.location.reload();
          }
        })
        .catch(function () { window.setTimeout(check, 2000); });
    };
    window.setTimeout(check, 500);
  }
})();
