// Our glue around the bpmn-js Modeler (from npm): open a deployed version, edit, check, deploy, show the diff.
// Talks to the JSON API with the API key typed into the page (session sign-in for web pages is not there yet).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const modeler = new BpmnJS({ container: "#canvas", keyboard: { bindTo: document } });
  const state = { processId: null, version: null, overlays: [], markers: [] };

  function headers(extra) {
    return Object.assign({ Authorization: "Bearer " + $("token").value.trim() }, extra || {});
  }

  async function api(path, options) {
    const response = await fetch("/api/v1" + path, Object.assign({ headers: headers() }, options || {}));
    const type = response.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const message = body && body.message ? body.message : "Fel " + response.status;
      const error = new Error(message);
      error.body = body;
      throw error;
    }
    return body;
  }

  function clearDecorations() {
    const overlays = modeler.get("overlays");
    const canvas = modeler.get("canvas");
    state.overlays.forEach((id) => overlays.remove(id));
    state.markers.forEach(([id, marker]) => canvas.removeMarker(id, marker));
    state.overlays = [];
    state.markers = [];
  }

  function mark(elementId, marker) {
    if (modeler.get("elementRegistry").get(elementId)) {
      modeler.get("canvas").addMarker(elementId, marker);
      state.markers.push([elementId, marker]);
    }
  }

  async function loadVersions() {
    const processId = $("process-id").value.trim();
    const body = await api("/definitions/" + encodeURIComponent(processId) + "/versions");
    const select = $("version");
    select.innerHTML = "";
    body.items.forEach((v) => {
      const option = document.createElement("option");
      option.value = v.version;
      option.textContent = "v" + v.version + " – " + (v.comment || "utan kommentar") + " (" + v.deployed_by +
        ", " + v.running_instances + " pågående)";
      select.appendChild(option);
    });
  }

  async function open(processId, version) {
    const xml = await api("/definitions/" + encodeURIComponent(processId) + "/versions/" + version + "/bpmn");
    await modeler.importXML(xml);
    modeler.get("canvas").zoom("fit-viewport");
    state.processId = processId;
    state.version = Number(version);
    clearDecorations();
    document.body.dataset.opened = processId + ":" + version;
  }

  async function currentXml() {
    const { xml } = await modeler.saveXML({ format: true });
    return xml;
  }

  function showFindings(result) {
    clearDecorations();
    const list = $("findings");
    list.innerHTML = "";
    const overlays = modeler.get("overlays");
    result.diagnostics.forEach((d) => {
      const item = document.createElement("li");
      item.className = d.severity;
      item.dataset.elementId = d.element_id || "";
      item.textContent = (d.severity === "error" ? "Fel" : "Varning") + (d.element_id ? " (" + d.element_id + ")" : "") +
        ": " + d.message;
      list.appendChild(item);
      if (d.element_id && modeler.get("elementRegistry").get(d.element_id)) {
        const html = document.createElement("div");
        html.className = "finding-overlay " + d.severity;
        html.dataset.elementId = d.element_id;
        html.title = d.message;
        html.textContent = d.severity === "error" ? "Fel" : "Varning";
        state.overlays.push(overlays.add(d.element_id, "finding", { position: { top: -12, left: 0 }, html: html }));
        if (d.severity === "error") mark(d.element_id, "finding-error");
      }
    });
    $("check-summary").textContent = result.errors + " fel, " + result.warnings + " varningar" +
      (result.executable ? " – kan köras" : " – kan inte köras");
  }

  async function check() {
    const result = await api("/definitions/check", {
      method: "POST", headers: headers({ "Content-Type": "application/xml" }), body: await currentXml(),
    });
    showFindings(result);
    return result;
  }

  function describe(change) {
    const show = (v) => (v === null || v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v) : v);
    return change.field + ": " + show(change.before) + " → " + show(change.after);
  }

  async function showDiff(processId, from, to) {
    const diff = await api("/definitions/" + encodeURIComponent(processId) + "/diff?from=" + from + "&to=" + to);
    const list = $("diff");
    list.innerHTML = "";
    const add = (text, cls, id) => {
      const item = document.createElement("li");
      item.className = cls;
      item.dataset.elementId = id;
      item.textContent = text;
      list.appendChild(item);
    };
    diff.added.forEach((e) => { add("Tillagt: " + (e.name || e.id), "added", e.id); mark(e.id, "diff-added"); });
    diff.removed.forEach((e) => add("Borttaget: " + (e.name || e.id), "removed", e.id));
    diff.changed.forEach((e) => {
      add("Ändrat: " + (e.name || e.id) + " (" + e.changes.map(describe).join("; ") + ")", "changed", e.id);
      mark(e.id, "diff-changed");
    });
    if (!list.children.length) add("Inga ändringar i elementen", "none", "");
  }

  async function deploy() {
    const comment = encodeURIComponent($("comment").value);
    try {
      const result = await api("/definitions?comment=" + comment, {
        method: "POST", headers: headers({ "Content-Type": "application/xml" }), body: await currentXml(),
      });
      const previous = state.version;
      $("deploy-result").textContent = result.created
        ? "Driftsatt som version " + result.version
        : "Oförändrat: samma innehåll som version " + result.version;
      document.body.dataset.deployed = result.process_id + ":" + result.version;
      if (result.created && previous && result.process_id === state.processId) {
        state.version = result.version;
        await loadVersions();
        $("version").value = String(result.version);
        clearDecorations();
        await showDiff(result.process_id, previous, result.version);
      }
    } catch (err) {
      $("deploy-result").textContent = "Inte driftsatt: " + err.message;
      if (err.body && err.body.details && err.body.details.diagnostics) {
        showFindings({ diagnostics: err.body.details.diagnostics, errors: 0, warnings: 0, executable: false });
      }
    }
  }

  let selected = null;
  modeler.on("selection.changed", (event) => {
    selected = event.newSelection.length === 1 ? event.newSelection[0] : null;
    const input = $("element-name");
    input.disabled = !selected;
    input.value = selected ? selected.businessObject.name || "" : "";
    $("selected").textContent = selected ? selected.type.replace("bpmn:", "") + " " + selected.id : "Inget valt";
  });
  $("element-name").addEventListener("change", (event) => {
    if (selected) modeler.get("modeling").updateLabel(selected, event.target.value);
  });

  const report = (fn) => async (event) => {
    if (event) event.preventDefault();
    try { await fn(); } catch (err) { $("deploy-result").textContent = err.message; }
  };
  $("token").value = sessionStorage.getItem("samflode-token") || "";
  $("token").addEventListener("change", () => sessionStorage.setItem("samflode-token", $("token").value.trim()));
  $("load-versions").addEventListener("click", report(loadVersions));
  $("open-form").addEventListener("submit", report(async () => {
    if (!$("version").value) await loadVersions();
    await open($("process-id").value.trim(), $("version").value);
  }));
  $("check").addEventListener("click", report(check));
  $("deploy").addEventListener("click", report(deploy));
  window.samflodeModeler = modeler; // for tests and the browser console
})();
