// A durable queue of scans in IndexedDB: nothing scanned is lost when the network
// fails or the page is closed. Each entry keeps its Idempotency-Key for every retry,
// so the server records it once however often it is sent. Each logged-in person has a
// queue of their own (one database per actor): on a shared phone, driver A's scans
// wait for driver A and are never uploaded under driver B's login. Scans queued before
// that (in the one shared database "cylinder-ledger", with no actor) are adopted by the
// first login that opens the page, so none is lost in the upgrade.
/* exported ScanQueue */
var ScanQueue = function (actor) {
  "use strict";
  if (!actor) { throw new Error("ScanQueue needs the logged-in actor"); }
  var DB = "cylinder-ledger-actor-" + actor, STORE = "scans", LEGACY = "cylinder-ledger";

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore(STORE, { keyPath: "key" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function run(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var out = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(out && out.result !== undefined ? out.result : out); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  // The legacy database, or null if there is none (a first open is aborted, so this
  // never creates it).
  function openLegacy() {
    return new Promise(function (resolve) {
      var req = indexedDB.open(LEGACY);
      req.onupgradeneeded = function (event) { if (event.oldVersion === 0) { req.transaction.abort(); } };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function (event) { event.preventDefault(); resolve(null); };
    });
  }

  function legacyScans(old) {
    if (!old.objectStoreNames.contains(STORE)) { return Promise.resolve([]); }
    return new Promise(function (resolve, reject) {
      var req = old.transaction(STORE, "readonly").objectStore(STORE).getAll();
      req.onsuccess = function () { resolve(req.result || []); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function dropLegacy() {
    return new Promise(function (resolve) {
      var req = indexedDB.deleteDatabase(LEGACY);
      req.onsuccess = req.onerror = req.onblocked = function () { resolve(); };
    });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  return {
    add: function (scan) {
      scan.key = scan.key || newKey();
      scan.actor = actor;
      scan.tries = 0;
      return run("readwrite", function (s) { s.put(scan); }).then(function () { return scan; });
    },
    update: function (scan) { return run("readwrite", function (s) { s.put(scan); }); },
    remove: function (key) { return run("readwrite", function (s) { s.delete(key); }); },
    // Move the legacy database's scans (same keys, no actor) into this queue, then delete
    // it; the legacy database is kept if the move fails. Resolves to how many moved.
    adoptLegacy: function () {
      return openLegacy().then(function (old) {
        if (!old) { return 0; }
        return legacyScans(old).then(function (rows) {
          old.close();
          var move = rows.length ? run("readwrite", function (s) { rows.forEach(function (r) { s.put(r); }); }) : null;
          return Promise.resolve(move).then(dropLegacy).then(function () { return rows.length; });
        }, function (err) { old.close(); throw err; });
      });
    },
    all: function () {
      return run("readonly", function (s) { return s.getAll(); }).then(function (rows) {
        // No actor: adopted from the legacy queue (the server records it under this login).
        return (rows || []).filter(function (r) { return r.actor == null || String(r.actor) === String(actor); }).sort(function (a, b) { return a.occurred_at < b.occurred_at ? -1 : 1; });
      });
    }
  };
};
