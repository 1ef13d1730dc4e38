(function () {
  "use strict";
  // Filter and search host sections. Only toggles `hidden` and sets textContent:
  // report data is never turned back into markup.
  var hosts = document.querySelectorAll("details.host");
  var status = document.getElementById("f-status");
  var branch = document.getElementById("f-branch");
  var search = document.getElementById("f-search");
  var shown = document.getElementById("f-shown");
  function apply() {
    var s = status.value, b = branch.value, q = search.value.trim().toLowerCase(), n = 0;
    for (var i = 0; i < hosts.length; i++) {
      var h = hosts[i];
      var ok = (s === "all" || h.getAttribute("data-state") === s) &&
               (b === "" || h.getAttribute("data-branch") === b) &&
               (q === "" || h.getAttribute("data-search").indexOf(q) !== -1);
      h.hidden = !ok;
      if (ok) { n++; }
    }
    shown.textContent = String(n);
  }
  status.addEventListener("change", apply);
  branch.addEventListener("change", apply);
  search.addEventListener("input", apply);
  // Printing shows the failing hosts expanded.
  window.addEventListener("beforeprint", function () {
    for (var i = 0; i < hosts.length; i++) {
      if (!hosts[i].hidden && hosts[i].getAttribute("data-state") !== "compliant") { hosts[i].open = true; }
    }
  });
  apply();
})();
