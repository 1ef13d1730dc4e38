(function () {
  "use strict";
  // The dashboard's only script (served from /static; the CSP forbids inline script).
  // Data coming from the server is inserted with textContent, or as HTML the server
  // rendered with autoescaping (the preview fragment): never built from strings here.
  var csrf = document.body.getAttribute("data-csrf") || "";
  var POLL_MS = 500;
  var MAX_POLLS = 1200; // ten minutes: a job never outlives the host deadline by that much

  function post(url) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
    }).then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); });
  }

  function showJob(view) {
    var box = document.getElementById("job");
    if (!box) { return; }
    box.hidden = false;
    box.setAttribute("data-job", view.id);
    box.setAttribute("data-active", view.active ? "yes" : "no");
    var state = document.getElementById("job-state");
    state.textContent = view.state_label;
    state.setAttribute("data-state", view.state);
    var kind = document.getElementById("job-kind");
    if (kind) { kind.textContent = view.kind; }
    var list = document.getElementById("job-progress");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    for (var i = 0; i < view.progress.length; i++) {
      var li = document.createElement("li");
      li.textContent = view.progress[i];
      list.appendChild(li);
    }
    document.getElementById("job-outcome").textContent = view.outcome || "";
  }

  function poll(jobId, polls) {
    fetch("/jobs/" + encodeURIComponent(jobId) + ".json", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (view) {
        showJob(view);
        var box = document.getElementById("job");
        if (view.active && polls < MAX_POLLS) {
          window.setTimeout(function () { poll(jobId, polls + 1); }, POLL_MS);
        } else if (!view.active && box && box.getAttribute("data-standalone") !== "yes") {
          // The host page shows the new findings and state after the job's rescan.
          window.setTimeout(function () { window.location.reload(); }, 800);
        }
      });
  }

  function startJob(url) {
    return post(url).then(function (res) {
      if (res.body && res.body.job) {
        var box = document.getElementById("job");
        if (box) { box.hidden = false; }
        if (res.status === 409) {
          document.getElementById("job-outcome").textContent = res.body.error || "";
        }
        poll(res.body.job, 0);
      } else if (res.body && res.body.error) {
        var out = document.getElementById("job-outcome");
        if (out) { document.getElementById("job").hidden = false; out.textContent = res.body.error; }
      }
    });
  }

  function wireFix(container) {
    var form = container.querySelector("#fix-form");
    var dialog = container.querySelector("#fix-dialog");
    if (!form || !dialog) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var btn = form.querySelector("#fix-btn");
      if (btn && btn.disabled) { return; }
      dialog.showModal();
    });
    container.querySelector("#fix-cancel").addEventListener("click", function () { dialog.close(); });
    container.querySelector("#fix-confirm").addEventListener("click", function () {
      dialog.close();
      var btn = form.querySelector("#fix-btn");
      if (btn) { btn.disabled = true; }
      startJob(form.getAttribute("action"));
    });
  }

  var preview = document.getElementById("preview");
  if (preview) {
    fetch(preview.getAttribute("data-src") + window.location.search, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var frag = document.createDocumentFragment();
        var nodes = doc.body.childNodes;
        while (nodes.length) { frag.appendChild(document.adoptNode(nodes[0])); }
        while (preview.firstChild) { preview.removeChild(preview.firstChild); }
        preview.appendChild(frag);
        wireFix(preview);
      });
  }

  var rescan = document.getElementById("rescan-form");
  if (rescan) {
    rescan.addEventListener("submit", function (ev) {
      ev.preventDefault();
      startJob(rescan.getAttribute("action"));
    });
  }

  var job = document.getElementById("job");
  if (job && job.getAttribute("data-active") === "yes") {
    poll(job.getAttribute("data-job"), 0);
  }

  // Filters apply as soon as a select changes (the form still works without script).
  var filters = document.getElementById("filters");
  if (filters) {
    var selects = filters.querySelectorAll("select");
    for (var i = 0; i < selects.length; i++) {
      selects[i].addEventListener("change", function () { filters.submit(); });
    }
  }
})();
