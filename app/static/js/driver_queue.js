// The driver page's uploads: send each queued scan (with its Idempotency-Key), show what
// waits, and keep every refusal on this phone until the driver has acknowledged it.
//
// - A failed fetch is "no network"; an HTTP 5xx is a server error: that record is kept
//   and retried on the next pass, the records of OTHER cylinders go on, and the later
//   records of the same cylinder stay behind it (each cylinder's order is kept).
// - A scan made while a pass is running is uploaded by another pass right after it.
// - A refused record stays in IndexedDB (the same store, marked ``refused``) and in a
//   red banner that no later success overwrites, until "知道了 / OK" is tapped.
/* exported DriverUpload */
var DriverUpload = function (opts) {
  "use strict";
  var root = opts.root, T = opts.T, queue = opts.queue, say = opts.say, status = opts.status;
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var M = {
    server: "服务器出错，记录已保留，稍后重试 / server error, kept, will retry",
    busy: "服务器繁忙，记录已保留，稍后重试 / server busy, kept, will retry",
    heading: "⚠ 被拒绝，未记录 / Refused, not recorded",
    ok: "知道了 / OK",
    todo: {
      delivered: "此瓶未记录为送达，请收回气瓶并联系站点 / not recorded as delivered: take the cylinder back and call the station",
      dispatched: "此瓶未记录为装车，请勿运出，卸下气瓶并联系站点 / not recorded as loaded: do not take it out, unload the cylinder and call the station",
      returned: "此瓶未记录为回收，请联系站点 / not recorded as collected: call the station"
    }
  };
  var syncing = false, dirty = false, stopped = false, retryTimer = null, delay = 2000;
  var pending = 0, shown = null;

  function el(tag, cls, text) { var e = document.createElement(tag); e.className = cls || ""; e.textContent = text || ""; return e; }
  function shortCode(code) { var m = /\/c\/([A-Za-z0-9]{1,20})/.exec(code); return (m ? m[1] : code).toUpperCase(); }
  function waiting(r) { return !r.refused; }

  // --- what waits, and what was refused ---------------------------------------------------
  function render() {
    return queue.all().then(function (rows) {
      var list = document.getElementById("pending"), wait = rows.filter(waiting);
      list.textContent = "";
      wait.forEach(function (r) {
        list.appendChild(el("li", "pending", shortCode(r.code) + " · " + T[r.type] + " · " + T.pending + (r.error ? " (" + r.error + ")" : "")));
      });
      pending = wait.length;
      document.getElementById("pending-count").textContent = String(wait.length);
      showRefusals(rows.filter(function (r) { return !waiting(r); }));
      return wait.length;
    });
  }

  function showRefusals(rows) {
    var box = document.getElementById("refusals"), keys = rows.map(function (r) { return r.key; }).join(",");
    if (keys === shown) { return; }  // unchanged: never rebuilt under the driver's thumb
    var fresh = rows.some(function (r) { return (shown || "").indexOf(r.key) < 0; });
    shown = keys; box.textContent = ""; box.hidden = !rows.length;
    if (!rows.length) { return; }
    box.appendChild(el("h2", "", M.heading));
    rows.forEach(function (r) {
      var item = box.appendChild(el("div", "refusal"));
      item.dataset.key = r.key;
      item.appendChild(el("p", "what", shortCode(r.code) + " · " + T[r.type] + " · " + T.refused + ": " + r.refused.why));
      item.appendChild(el("p", "todo", M.todo[r.type] || M.todo.returned));
      var ok = item.appendChild(el("button", "ack", M.ok));
      ok.type = "button";
      ok.addEventListener("click", function () { ok.disabled = true; queue.remove(r.key).then(render, render); });
    });
    if (fresh && navigator.vibrate) { try { navigator.vibrate([300, 150, 300]); } catch (e) { /* not allowed */ } }
  }

  function result(entry, ok, text) {
    var line = shortCode(entry.code) + " · " + T[entry.type] + " · " + text, list = document.getElementById("results");
    list.insertBefore(el("li", ok ? "good" : "bad", line), list.firstChild);
    say(line, ok ? "good" : "bad");
  }

  function showLogin() {
    if (document.getElementById("relogin")) { return; }
    var a = el("a", "button", T.login);
    a.id = "relogin"; a.href = root.dataset.login;
    status.appendChild(document.createTextNode(" ")); status.appendChild(a);
  }

  // --- one record -----------------------------------------------------------------------------
  function send(entry) {
    return fetch(root.dataset.post, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Idempotency-Key": entry.key },
      body: JSON.stringify({ code: entry.code, type: entry.type, payload: entry.payload, occurred_at: entry.occurred_at, actor: entry.actor })
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) { return { status: resp.status, body: body }; });
    });
  }

  function handle(entry, answer) {  // a 2xx, a refusal, or the page/session stops the uploads
    var s = answer.status, b = answer.body;
    if (s === 200 || s === 201) {
      result(entry, true, (b.replay ? T.replay : T.recorded) + (b.warnings && b.warnings.length ? " — " + b.warnings.join("；") : ""));
      return queue.remove(entry.key);
    }
    if (s === 401) { stopped = true; say(T.session, "bad"); showLogin(); return Promise.resolve(); }
    if (s === 400 || b.error === "other_login") { stopped = true; say(T.stale, "bad"); return Promise.resolve(); }
    var why = (b.reasons && b.reasons.length ? b.reasons.join("；") : b.detail) || ("HTTP " + s);
    result(entry, false, T.refused + ": " + why);
    entry.refused = { why: why, at: new Date().toISOString() }; entry.error = null;
    return queue.update(entry);  // kept until the driver acknowledges it
  }

  function keep(entry, text) {
    entry.tries = (entry.tries || 0) + 1; entry.error = text;
    return queue.update(entry);
  }

  // One pass over the queue: "ok", "server" (some kept after a 5xx), "busy" (429: stop),
  // or "offline" (a fetch failed: stop, every waiting record kept).
  function pass() {
    return queue.all().then(function (rows) {
      var held = {}, outcome = "ok";
      return rows.filter(waiting).reduce(function (chain, entry) {
        return chain.then(function () {
          var cylinder = shortCode(entry.code);
          if (stopped || outcome === "offline" || outcome === "busy" || held[cylinder]) { return null; }
          return send(entry).then(function (answer) {
            if (answer.status === 429) { outcome = "busy"; return keep(entry, M.busy); }
            if (answer.status < 500) { return handle(entry, answer); }
            held[cylinder] = true; outcome = "server";  // this cylinder's later records wait
            return keep(entry, M.server);
          }, function () { outcome = "offline"; });
        });
      }, Promise.resolve()).then(function () { return outcome; });
    });
  }

  function markOffline() {
    return queue.all().then(function (rows) {
      return Promise.all(rows.filter(waiting).map(function (r) { return keep(r, T.offline); }));
    });
  }

  function later() {
    if (retryTimer) { return; }
    retryTimer = setTimeout(function () { retryTimer = null; sync(); }, delay);
    delay = Math.min(delay * 2, 60000);
  }

  function sync() {
    if (stopped) { return Promise.resolve(); }
    if (syncing) { dirty = true; return Promise.resolve(); }  // the running pass is followed by another
    syncing = true; dirty = false;
    return pass().catch(function () { return "offline"; }).then(function (outcome) {
      var marked = outcome === "offline" ? markOffline().catch(function () { return null; }) : null;
      return Promise.resolve(marked).then(render).catch(function () { return 0; }).then(function (left) {
        syncing = false;
        if (stopped) { return null; }
        if (outcome === "offline") { say(T.offline, "warn"); } else if (outcome !== "ok") { say(M[outcome], "warn"); }
        if (dirty) { return sync(); }  // scanned during the pass: once more (no loop: only scans set it)
        if (outcome !== "ok") { later(); return null; }  // retried later, ever more slowly
        delay = 2000;
        return left ? sync() : null;  // queued elsewhere (another tab) since the pass began
      });
    });
  }

  return {
    sync: sync,
    render: render,
    pending: function () { return pending; },
    online: function () { delay = 2000; sync(); },
    showLogin: showLogin
  };
};
