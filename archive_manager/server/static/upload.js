// Filing page: each chosen file is sent on its own to POST /api/v1/documents
// (the session cookie, the page's CSRF token in X-CSRF-Token), with its own
// progress bar and result row. Without script the form posts all files at once.
(function () {
  "use strict";
  var form = document.querySelector("form.upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var list = document.getElementById("progress");
  var labels = JSON.parse(form.getAttribute("data-labels") || "{}");

  function row(name) {
    var li = document.createElement("li");
    var title = document.createElement("span");
    title.className = "name";
    title.textContent = name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var state = document.createElement("span");
    state.className = "state";
    li.appendChild(title); li.appendChild(bar); li.appendChild(state);
    list.appendChild(li);
    return { bar: bar, state: state, li: li };
  }

  function send(file, fields, csrf, ui) {
    return new Promise(function (resolve) {
      var data = new FormData();
      Object.keys(fields).forEach(function (k) { if (fields[k]) { data.append(k, fields[k]); } });
      data.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/documents");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { ui.bar.value = 100 * e.loaded / e.total; } };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        ui.bar.value = 100;
        if (xhr.status === 201) {
          var a = document.createElement("a");
          a.href = "/documents/" + encodeURIComponent(body.doc_id);
          a.textContent = body.doc_id;
          ui.state.appendChild(a);
          var what = body.duplicate ? labels.duplicate : (body.new_version ? labels.new_version : labels.filed);
          ui.state.appendChild(document.createTextNode(" " + what + (body.text !== "ok" ? " · " + labels.no_text : "")));
          ui.li.className = "ok";
        } else {
          ui.state.textContent = (body.error && body.error.message) || ("HTTP " + xhr.status);
          ui.li.className = "failed";
        }
        resolve();
      };
      xhr.onerror = function () { ui.state.textContent = labels.failed; ui.li.className = "failed"; resolve(); };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) { return; }
    event.preventDefault();
    var csrf = form.querySelector("input[name=csrf]").value;
    var fields = {};
    ["client", "type", "title", "date", "number"].forEach(function (k) {
      var el = form.querySelector("[name=" + k + "]");
      fields[k] = el ? el.value : "";
    });
    if (input.files.length > 1) { fields.title = ""; }
    var files = Array.prototype.slice.call(input.files);
    var chain = Promise.resolve();
    files.forEach(function (file) {
      var ui = row(file.name);
      chain = chain.then(function () { return send(file, fields, csrf, ui); });
    });
    chain.then(function () { input.value = ""; });
  });
}());
