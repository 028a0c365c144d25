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
