// The nozzle page: keep the scan input focused for the keyboard-wedge scanner,
// except while the operator types the scale reading of an allowed cylinder.
(function () {
  "use strict";
  var scan = document.getElementById("scan");
  var gross = document.getElementById("gross");
  if (!scan) { return; }
  if (gross && scan.dataset.focus === "no") { gross.focus(); } else { scan.focus(); }
  document.addEventListener("click", function (event) {
    var t = event.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "BUTTON" || t.tagName === "SELECT")) { return; }
    (gross && scan.dataset.focus === "no" ? gross : scan).focus();
  });

  function freshKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  // Each scan its own Idempotency-Key, even from a page shown again by Back: a key
  // names one check, never another cylinder's.
  var scanForm = document.getElementById("scan-form");
  var scanToken = document.getElementById("scan-token");
  scanForm.addEventListener("submit", function () {
    if (scanForm.dataset.sent !== "1") { scanToken.value = freshKey(); }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {  // back from the cache: the forms may be sent again
      Array.prototype.forEach.call(document.querySelectorAll("form"), function (f) { delete f.dataset.sent; });
    }
  });

  // The net weight as the operator types: gross − the registered tare (shown, not sent).
  var tare = document.getElementById("tare"), net = document.getElementById("net");
  if (gross && tare && net) {
    var showNet = function () {
      var g = parseFloat(gross.value.replace(",", ".")), t = parseFloat(tare.dataset.tare);
      net.textContent = isFinite(g) && isFinite(t) && g > t ? (g - t).toFixed(1) : "—";
    };
    gross.addEventListener("input", showNet);
    showNet();  // a reading shown again to be corrected
    if (gross.value) { gross.select(); }  // typing replaces it
  }

  // A double press of Enter or a scanner sending CR+LF must not submit twice.
  var forms = document.querySelectorAll("form");
  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });
  document.body.dataset.ready = "1";
}());
