// The driver's phone page: scan (camera with BarcodeDetector, a photo, or typing),
// queue the scan durably (ScanQueue); DriverUpload (driver_queue.js) uploads it.
(function () {
  "use strict";
  var root = document.getElementById("driver");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("messages").textContent);
  var status = document.getElementById("scan-status");
  var video = document.getElementById("camera");
  var stream = null, queue = ScanQueue(root.dataset.actor);
  var upload = DriverUpload({ root: root, T: T, queue: queue, say: say, status: status });

  if (window.BarcodeDetectionAPI && BarcodeDetectionAPI.prepareZXingModule) {
    BarcodeDetectionAPI.prepareZXingModule({ overrides: { locateFile: function (path, prefix) {
      return path.endsWith(".wasm") ? root.dataset.wasm : prefix + path;
    } } });
  }

  function say(text, kind) { status.textContent = text; status.className = "status " + (kind || ""); }
  function action() { return document.querySelector("input[name=action]:checked").value; }

  // The safety check is made for one customer, one cylinder: never carried over to the next.
  function untick() {
    Array.prototype.forEach.call(document.querySelectorAll(".check-item, .check-na"), function (b) { b.checked = false; b.disabled = false; });
  }
  function itemBox(na) { return document.querySelector(".check-item[value=" + na.dataset.item + "]"); }
  // "Not applicable" and the item's own box exclude each other: one answer per item.
  Array.prototype.forEach.call(document.querySelectorAll(".check-na"), function (na) {
    na.addEventListener("change", function () { var box = itemBox(na); box.checked = false; box.disabled = na.checked; });
  });

  function showPanel() {
    document.getElementById("deliver-panel").hidden = action() !== "delivered";
  }
  Array.prototype.forEach.call(document.querySelectorAll("input[name=action]"), function (r) {
    r.addEventListener("change", showPanel);
  });
  showPanel();

  // --- the customer: found by a search, or (offline) among the ones this phone chose lately --
  (function () {
    var box = document.getElementById("customer-picker"), input = document.getElementById("customer");
    var search = document.getElementById("customer-search"), hint = document.getElementById("customer-hint");
    var list = document.getElementById("customer-results"), chosen = document.getElementById("customer-chosen");
    var data = JSON.parse(document.getElementById("customers-data").textContent), inline = data.inline || null;
    var details = {}, asked = 0, timer = null, KEY = "recent-customers-actor-" + root.dataset.actor;
    (inline || []).forEach(function (c) { details[c.id] = c; });

    // PIPL: the phone keeps no address or phone, only what a file's erasure keeps plus its name.
    function recents() { try { return JSON.parse(localStorage.getItem(KEY)) || []; } catch (e) { return []; } }
    function keep(rows) {  // (storage refused, in private mode or full: no recent customers)
      var kept = rows.slice(0, 10).map(function (c) { return { id: c.id, name: c.name, kind: c.kind, basement: c.basement }; });
      try { localStorage.setItem(KEY, JSON.stringify(kept)); } catch (e) { return; }
    }
    function remember(c) { keep([c].concat(recents().filter(function (r) { return r.id !== c.id; }))); }

    function add(parent, tag, cls, text) { return parent.appendChild(li(text, cls, tag)); }
    function card(c, el) {  // name, kind, the basement warning, and the address when known
      var address = (details[c.id] || c).address;
      el.textContent = ""; add(el, "b", "name", c.name); add(el, "span", "kind", T.kinds[c.kind] || c.kind);
      if (c.basement) { add(el, "span", "basement", "⚠ " + T.basement); }
      if (address) { add(el, "span", "address", address); }
      return el;
    }
    function choose(c) {  // (a search still on its way is dropped: it would show stale results)
      clearTimeout(timer); asked++; untick(); input.value = String(c.id); remember(c); card(c, document.getElementById("customer-card"));
      chosen.hidden = false; document.getElementById("customer-choice").hidden = true; search.value = "";
    }
    function unchoose() { untick(); input.value = ""; chosen.hidden = true; document.getElementById("customer-choice").hidden = false; idle(); }
    document.getElementById("customer-change").addEventListener("click", function () { unchoose(); search.focus(); });

    function show(groups, text) {  // groups: [heading or null, customers]
      list.textContent = ""; hint.textContent = text || "";
      groups.forEach(function (g) {
        if (!g[1].length) { return; }
        if (g[0]) { add(list, "li", "heading", g[0]); }
        g[1].forEach(function (c) {
          var b = card(c, document.createElement("button"));
          b.type = "button"; b.className = "customer-card"; b.dataset.id = String(c.id);
          b.addEventListener("click", function () { choose(c); });
          add(list, "li", "", "").appendChild(b);
        });
      });
    }
    function idle() {  // nothing typed: the recent ones, then a small enterprise's every file
      var mine = recents();
      show([[T.recent, mine], [T.all, inline || []]], mine.length || (inline && inline.length) ? "" : T.no_recent);
    }
    function local(q) {
      var seen = {}, low = q.toLowerCase();
      return recents().concat(inline || []).filter(function (c) {
        var text = (c.name + " " + ((details[c.id] || {}).address || "")).toLowerCase();
        if (seen[c.id] || text.indexOf(low) < 0) { return false; }
        seen[c.id] = true; return true;
      });
    }
    function offline(q) { var found = local(q); show([[null, found]], inline ? (found.length ? "" : T.none) : T.offline_recent); }
    function enough(q) { return /[\u3400-\u9fff\uf900-\ufaff]/.test(q) || q.length >= 2; }
    function find() {
      var q = search.value.trim(), mine = ++asked;
      clearTimeout(timer);
      if (!q) { idle(); return; }
      if (!enough(q)) { show([[null, local(q)]], T.too_short); return; }
      if (!navigator.onLine) { offline(q); return; }
      hint.textContent = T.searching;
      timer = setTimeout(function () {
        fetch(box.dataset.search + "?q=" + encodeURIComponent(q), { credentials: "same-origin" }).then(function (resp) {
          if (resp.redirected || resp.status === 401) { return { session: true }; }  // sent to the login page
          return resp.json().catch(function () { return {}; }).then(function (b) { b.status = resp.status; return b; });
        }).then(function (b) {
          if (mine !== asked) { return; }  // typed on since: a later answer is coming
          if (b.session) { show([], T.session); upload.showLogin(); return; }
          if (b.status >= 500 || b.status === 429) { offline(q); return; }
          if (b.status !== 200) { show([], b.detail || "HTTP " + b.status); return; }
          b.customers.forEach(function (c) { details[c.id] = c; });
          show([[null, b.customers]], b.customers.length ? (b.more ? T.more : "") : T.none);
        }, function () { if (mine === asked) { offline(q); } });
      }, 250);
    }
    search.addEventListener("input", find);

    // Online, the server says which recent ones still exist: the erased (or another
    // enterprise's, after a change of login) are forgotten, the others refreshed.
    function refresh() {
      var ids = recents().map(function (c) { return c.id; });
      if (!ids.length || !navigator.onLine) { return; }
      fetch(box.dataset.known + "?ids=" + ids.join(","), { credentials: "same-origin" }).then(function (resp) {
        if (resp.status !== 200 || resp.redirected) { return null; }
        return resp.json().then(function (b) {
          var known = {};
          b.customers.forEach(function (c) { details[c.id] = c; known[c.id] = c; });
          keep(recents().map(function (c) { return ids.indexOf(c.id) < 0 ? c : known[c.id]; }).filter(Boolean));
          if (input.value && ids.indexOf(+input.value) >= 0 && !known[input.value]) { unchoose(); }
          else if (!input.value && !search.value.trim()) { idle(); }
        });
      }).catch(function () { /* no network: asked again when it is back */ });
    }
    window.addEventListener("online", refresh); refresh();
    if (!data.chosen) { idle(); return; }
    choose(data.chosen);  // just opened with the form, which only the delivery panel shows: deliver
    document.querySelector("input[value=delivered]").checked = true; showPanel();
  }());

  function payloadFor(type) {
    if (type === "dispatched") { return { vehicle: root.dataset.vehicle }; }
    if (type === "returned") { return {}; }
    var checklist = {};
    Array.prototype.forEach.call(document.querySelectorAll(".check-item"), function (box) {
      checklist[box.value] = box.checked;
    });
    Array.prototype.forEach.call(document.querySelectorAll(".check-na:checked"), function (na) {
      checklist[na.dataset.item] = null;  // not applicable at this site
    });
    return { customer_id: parseInt(document.getElementById("customer").value, 10), checklist: checklist };
  }

  function scanned(text) {
    var type = action();
    if (type === "delivered" && !document.getElementById("customer").value) { say(T.choose_customer, "bad"); return; }
    // No item answered at all is a check not made (not eight failures): ask for it first.
    if (type === "delivered" && !document.querySelector(".check-item:checked, .check-na:checked")) {
      say(T.check_first, "bad"); return;
    }
    if (type === "dispatched" && !root.dataset.vehicle) { say(T.no_vehicle, "bad"); return; }
    var entry = { code: text.trim(), type: type, payload: payloadFor(type), occurred_at: new Date().toISOString() };
    if (type === "delivered") { untick(); }  // the next cylinder's check is made afresh
    queue.add(entry).then(function () { say(T.queued, "info"); upload.render(); upload.sync(); });
  }

  function li(text, cls, tag) { var e = document.createElement(tag || "li"); e.textContent = text; e.className = cls || ""; return e; }

  // --- reading codes ------------------------------------------------------------------------
  function detector() { return new window.BarcodeDetector({ formats: ["qr_code"] }); }

  function decodeImage(source) {
    return detector().detect(source).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
  }

  document.getElementById("photo").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    say(T.scanning, "info");
    decodeImage(file).then(function (text) {
      if (text) { scanned(text); } else { say(T.no_code, "bad"); }
    }, function () { say(T.no_code, "bad"); });
    event.target.value = "";
  });

  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true;
  }

  function cameraError(err) {
    stopCamera();
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") { say(T.camera_denied, "bad"); }
    else if (name === "NotFoundError" || name === "OverconstrainedError") { say(T.camera_missing, "bad"); }
    else { say(T.camera_unavailable, "bad"); }
  }

  document.getElementById("camera-btn").addEventListener("click", function () {
    if (stream) { stopCamera(); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.BarcodeDetector) {
      say(T.camera_unavailable, "bad"); return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s; video.srcObject = s; video.hidden = false; say(T.scanning, "info");
      return video.play().then(function () {
        var d = detector();
        (function look() {
          if (!stream) { return; }
          d.detect(video).then(function (codes) {
            if (codes.length) { stopCamera(); scanned(codes[0].rawValue); } else { setTimeout(look, 250); }
          }, function () { setTimeout(look, 500); });
        }());
      });
    }).catch(cameraError);
  });

  document.getElementById("manual").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("code-input");
    if (input.value.trim()) { scanned(input.value); input.value = ""; }
  });

  // Logging out with scans not yet uploaded: they stay on this phone for this person
  // (uploaded at their next login, never under another's), but say so first.
  var logout = document.querySelector("form.logout");
  if (logout) {
    logout.addEventListener("submit", function (event) {
      if (upload.pending() > 0 && !window.confirm(T.logout_pending.replace("%(n)s", String(upload.pending())))) {
        event.preventDefault();
      }
    });
  }

  window.addEventListener("online", upload.online);
  root.dataset.ready = "1";
  queue.adoptLegacy().catch(function () { return 0; }).then(upload.render).then(upload.sync);
}());
