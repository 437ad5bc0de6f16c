// The modeller page (/modellera): bpmn-js Modeler with the properties panel and Samflöde's own provider, bundled by
// `npm run build` (esbuild) into webui/static/build/. Talks to /api/v1 with the signed-in web session; every
// state-changing call carries the page's CSRF token in X-CSRF-Token.
import Modeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "./modeller.css";

import samflodeModdle from "./samflode-moddle.json";
import SamflodePropertiesProvider from "./provider.js";
import translateModule from "./translate.js";
import { lint } from "./lint.js";
import { LOCALE, t } from "./messages.js";

const AUTOSAVE_MS = 1200;
const $ = (id) => document.getElementById(id);

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options) {
  const opts = Object.assign({ credentials: "same-origin" }, options || {});
  opts.headers = Object.assign({ Accept: "application/json", "X-CSRF-Token": csrfToken() }, opts.headers || {});
  const response = await fetch("/api/v1" + path, opts);
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = body && (body.text || body.message) ? body.text || body.message : t("Fel {status}", "Error {status}", { status: response.status });
    throw new ApiError(message, response.status, body);
  }
  return body;
}

const jsonBody = (payload) => ({ headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });

// A file from another tool in any of the encodings BPMN files come in: BOM first, then the XML declaration.
export function decodeXml(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return new TextDecoder("utf-8").decode(bytes.subarray(3));
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes.subarray(2));
  if (bytes[0] === 0x3c && bytes[1] === 0x00) return new TextDecoder("utf-16le").decode(bytes);
  if (bytes[0] === 0x00 && bytes[1] === 0x3c) return new TextDecoder("utf-16be").decode(bytes);
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 200));
  const declared = /encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  let encoding = declared ? declared[1].toLowerCase() : "utf-8";
  try {
    return new TextDecoder(encoding).decode(bytes);
  } catch (err) {
    encoding = "utf-8";
    return new TextDecoder(encoding).decode(bytes);
  }
}

function severityName(severity) {
  return severity === "error" ? t("Fel", "Error") : t("Varning", "Warning");
}

function text(el, value) {
  el.textContent = value;
  return el;
}

function when(iso) {
  try {
    return new Date(iso).toLocaleString(LOCALE, { timeZone: "Europe/Stockholm", dateStyle: "short", timeStyle: "short" });
  } catch (err) {
    return iso;
  }
}

async function main() {
  const root = $("modeller");
  let catalog = { forms: [], lanes: [], roles: [], deadlines: [] };
  try {
    catalog = await api("/catalog");
  } catch (err) {
    text($("modeller-status"), t("Katalogen (formulär, körfält, tidsfrister) kunde inte hämtas: {error}",
      "The catalogue (forms, lanes, deadlines) could not be fetched: {error}", { error: err.message }));
  }
  const modeler = new Modeler({
    container: "#canvas",
    propertiesPanel: {
      parent: "#properties",
      layout: { groups: { samflode: { open: true }, "samflode-doc": { open: true }, general: { open: true }, timer: { open: true }, message: { open: true } } },
    },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      { __init__: ["samflodePropertiesProvider"], samflodePropertiesProvider: ["type", SamflodePropertiesProvider] },
      translateModule,
    ],
    moddleExtensions: { samflode: samflodeModdle },
    samflode: { catalog },
  });
  window.samflodeModeler = modeler; // for tests and the browser console

  const state = {
    processId: null, baseVersion: null, draftId: null, filename: null, overlays: [], markers: [],
    saveTimer: null, saving: null, dirty: false, importing: false,
  };

  // --- decorations --------------------------------------------------------------------------------------------
  function clearDecorations() {
    const overlays = modeler.get("overlays");
    const canvas = modeler.get("canvas");
    state.overlays.forEach((id) => overlays.remove(id));
    state.markers.forEach(([id, marker]) => {
      if (modeler.get("elementRegistry").get(id)) canvas.removeMarker(id, marker);
    });
    state.overlays = [];
    state.markers = [];
  }

  function mark(elementId, marker) {
    if (elementId && modeler.get("elementRegistry").get(elementId)) {
      modeler.get("canvas").addMarker(elementId, marker);
      state.markers.push([elementId, marker]);
    }
  }

  function selectElement(elementId) {
    const element = elementId && modeler.get("elementRegistry").get(elementId);
    if (element) {
      modeler.get("selection").select(element);
      modeler.get("canvas").scrollToElement(element);
    }
  }

  // --- the diagram in the modeller ----------------------------------------------------------------------------
  function mainProcessId() {
    const definitions = modeler.getDefinitions();
    if (!definitions) return null;
    const processes = (definitions.get("rootElements") || []).filter((e) => is(e, "bpmn:Process"));
    const executable = processes.find((p) => p.get("isExecutable"));
    const chosen = executable || processes[0];
    return chosen ? chosen.get("id") : null;
  }

  function processName() {
    const definitions = modeler.getDefinitions();
    const processes = (definitions.get("rootElements") || []).filter((e) => is(e, "bpmn:Process"));
    const chosen = processes.find((p) => p.get("isExecutable")) || processes[0];
    return (chosen && chosen.get("name")) || null;
  }

  // The whole diagram when it is readable that way; a large one (in_utskrivning has about 60 activities) at a
  // readable zoom from its top left corner instead of a miniature.
  function fitDiagram() {
    const canvas = modeler.get("canvas");
    const scale = canvas.zoom("fit-viewport");
    if (scale < 0.5) {
      canvas.zoom(0.75);
      const box = canvas.viewbox();
      canvas.viewbox({ x: box.inner.x - 20, y: box.inner.y - 20, width: box.width, height: box.height });
    }
  }

  async function currentXml() {
    const { xml } = await modeler.saveXML({ format: true });
    return xml;
  }

  async function load(xml, meta) {
    state.importing = true;
    try {
      const result = await modeler.importXML(xml);
      fitDiagram();
      if (result.warnings && result.warnings.length) {
        text($("modeller-status"), t("Diagrammet öppnades med {count} varningar från bpmn-js",
          "The diagram opened with {count} warnings from bpmn-js", { count: result.warnings.length }));
      }
    } finally {
      state.importing = false;
    }
    clearDecorations();
    $("findings").innerHTML = "";
    $("check-summary").textContent = "";
    $("diff").innerHTML = "";
    Object.assign(state, { baseVersion: null, draftId: null, filename: null }, meta || {});
    state.processId = mainProcessId();
    state.dirty = false;
    root.dataset.opened = (state.processId || "") + ":" + (state.baseVersion || "") + (state.draftId ? ":utkast" : "");
    describeOpened();
  }

  function describeOpened() {
    let what = state.processId ? t("Process {id}", "Process {id}", { id: state.processId }) : t("Diagram", "Diagram");
    if (state.baseVersion) what += t(", utgår från version {v}", ", based on version {v}", { v: state.baseVersion });
    if (state.filename) what += t(", fil {name}", ", file {name}", { name: state.filename });
    text($("opened"), what);
  }

  // --- drafts ---------------------------------------------------------------------------------------------------
  async function saveDraft() {
    clearTimeout(state.saveTimer);
    state.saveTimer = null;
    if (!modeler.getDefinitions()) return;
    const processId = mainProcessId();
    if (!processId) return;
    const payload = {
      process_id: processId, name: processName(), base_version: state.baseVersion, xml: await currentXml(),
    };
    state.dirty = false;
    try {
      const draft = state.draftId
        ? await api("/drafts/" + state.draftId, Object.assign({ method: "PUT" }, jsonBody(payload)))
        : await api("/drafts", Object.assign({ method: "POST" }, jsonBody(payload)));
      state.draftId = draft.id;
      root.dataset.draft = String(draft.id);
      text($("draft-status"), t("Utkastet sparat {when}", "Draft saved {when}", { when: when(draft.updated_at) }));
      await listDrafts();
    } catch (err) {
      state.dirty = true;
      text($("draft-status"), t("Utkastet kunde inte sparas: {error}", "The draft could not be saved: {error}", { error: err.message }));
    }
  }

  function scheduleSave() {
    state.dirty = true;
    text($("draft-status"), t("Ändrat – sparas strax …", "Changed – saving shortly …"));
    clearTimeout(state.saveTimer);
    state.saveTimer = setTimeout(() => {
      state.saving = saveDraft().finally(() => { state.saving = null; });
    }, AUTOSAVE_MS);
  }

  // Closing the tab: the last changes go out with keepalive, so nothing is lost.
  function flushOnLeave() {
    if (!state.dirty || !modeler.getDefinitions()) return;
    const processId = mainProcessId();
    if (!processId) return;
    modeler.saveXML({ format: true }).then(({ xml }) => {
      const payload = JSON.stringify({ process_id: processId, name: processName(), base_version: state.baseVersion, xml });
      const path = state.draftId ? "/api/v1/drafts/" + state.draftId : "/api/v1/drafts";
      fetch(path, {
        method: state.draftId ? "PUT" : "POST", keepalive: true, credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() }, body: payload,
      });
      state.dirty = false;
    });
  }

  async function listDrafts() {
    const body = await api("/drafts");
    const list = $("drafts");
    list.innerHTML = "";
    if (!body.items.length) {
      list.appendChild(text(document.createElement("li"), t("Inga sparade utkast", "No saved drafts")));
      return;
    }
    body.items.forEach((draft) => {
      const item = document.createElement("li");
      item.dataset.draftId = draft.id;
      item.dataset.processId = draft.process_id;
      const label = (draft.name || draft.process_id) + (draft.base_version ? t(" (från v{v})", " (from v{v})", { v: draft.base_version }) : t(" (ny)", " (new)")) +
        ", " + when(draft.updated_at);
      item.appendChild(text(document.createElement("span"), label));
      const openButton = text(document.createElement("button"), t("Öppna", "Open"));
      openButton.type = "button";
      openButton.className = "open-draft";
      openButton.addEventListener("click", report(() => openDraft(draft.id)));
      const discardButton = text(document.createElement("button"), t("Kasta", "Discard"));
      discardButton.type = "button";
      discardButton.className = "discard-draft";
      discardButton.addEventListener("click", report(async () => {
        if (!window.confirm(t("Kasta utkastet för {name}?", "Discard the draft of {name}?", { name: draft.name || draft.process_id }))) return;
        await api("/drafts/" + draft.id, { method: "DELETE" });
        if (state.draftId === draft.id) state.draftId = null;
        await listDrafts();
      }));
      item.append(" ", openButton, " ", discardButton);
      if (draft.id === state.draftId) item.classList.add("current");
      list.appendChild(item);
    });
  }

  async function openDraft(id) {
    const draft = await api("/drafts/" + id);
    await load(draft.xml, { baseVersion: draft.base_version, draftId: draft.id });
    text($("draft-status"), t("Utkastet öppnat (sparat {when})", "Draft opened (saved {when})", { when: when(draft.updated_at) }));
    if (draft.base_version) await selectProcess(draft.process_id, draft.base_version);
    await listDrafts();
  }

  // --- deployed versions ----------------------------------------------------------------------------------------
  async function loadProcesses() {
    const body = await api("/definitions?limit=500");
    const ids = [...new Set(body.items.map((d) => d.process_id))].sort();
    const select = $("process-id");
    const previous = select.value;
    select.innerHTML = "";
    ids.forEach((id) => {
      const option = text(document.createElement("option"), id);
      option.value = id;
      select.appendChild(option);
    });
    if (previous && ids.includes(previous)) select.value = previous;
  }

  async function loadVersions() {
    const processId = $("process-id").value;
    const versionSelects = [$("version"), $("diff-from"), $("diff-to")];
    versionSelects.forEach((s) => { s.innerHTML = ""; });
    if (!processId) return [];
    const body = await api("/definitions/" + encodeURIComponent(processId) + "/versions");
    body.items.forEach((v) => {
      const label = "v" + v.version + (v.is_default ? t(" (standard)", " (default)") : "") + " – " +
        (v.comment || t("utan kommentar", "no comment")) + " (" + v.deployed_by + ", " + when(v.deployed_at) + ", " +
        t("{n} pågående", "{n} running", { n: v.running_instances }) +
        (v.executable ? "" : t(", dokumentation", ", documentation")) + ")";
      versionSelects.forEach((s, index) => {
        const option = text(document.createElement("option"), index === 0 ? label : "v" + v.version);
        option.value = v.version;
        s.appendChild(option);
      });
    });
    if (body.items.length > 1) $("diff-from").value = String(body.items[1].version);
    return body.items;
  }

  async function selectProcess(processId, version) {
    await loadProcesses();
    $("process-id").value = processId;
    await loadVersions();
    if (version) $("version").value = String(version);
  }

  async function openVersion(processId, version) {
    const xml = await api("/definitions/" + encodeURIComponent(processId) + "/versions/" + version + "/bpmn");
    await load(xml, { baseVersion: Number(version) });
    // A draft of this process that the user already has is offered, not overwritten.
    const drafts = await api("/drafts");
    const existing = drafts.items.find((d) => d.process_id === processId);
    text($("draft-status"), existing ? t("Du har ett sparat utkast av processen (se Mina utkast); ändringar här ersätter det",
      "You have a saved draft of this process (see My drafts); changes here replace it") : "");
    if (existing) state.draftId = existing.id;
    root.dataset.opened = processId + ":" + version;
  }

  // --- upload a file made elsewhere -----------------------------------------------------------------------------
  async function upload(file) {
    if (!file) return;
    const xml = decodeXml(await file.arrayBuffer());
    try {
      await load(xml, { filename: file.name });
    } catch (err) {
      text($("modeller-status"), t("Filen {name} kunde inte öppnas som BPMN: {error}", "The file {name} could not be opened as BPMN: {error}",
        { name: file.name, error: err.message }));
      return;
    }
    text($("modeller-status"), t("Filen {name} är uppladdad; kontrollera och driftsätt den som vanligt",
      "The file {name} is uploaded; check and deploy it as usual", { name: file.name }));
    const result = await check();
    $("documentation-only").checked = !result.executable;
    await saveDraft();
  }

  // --- a new process, and the file to take elsewhere -------------------------------------------------------------
  function newDiagramXml(processId) {
    return '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" ' +
      'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" ' +
      'xmlns:samflode="http://samflode.se/schema/bpmn/1.0" id="Definitions_' + processId + '" ' +
      'targetNamespace="http://samflode.se/bpmn">\n' +
      '  <bpmn:process id="' + processId + '" name="' + processId + '" isExecutable="true">\n' +
      '    <bpmn:startEvent id="start" name="Start" />\n' +
      '  </bpmn:process>\n' +
      '  <bpmndi:BPMNDiagram id="diagram">\n' +
      '    <bpmndi:BPMNPlane id="plane" bpmnElement="' + processId + '">\n' +
      '      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36" />' +
      '</bpmndi:BPMNShape>\n' +
      '    </bpmndi:BPMNPlane>\n' +
      '  </bpmndi:BPMNDiagram>\n' +
      '</bpmn:definitions>\n';
  }

  async function newProcess() {
    const input = $("new-process-id");
    const processId = input.value.trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(processId)) {
      text($("modeller-status"), t("Processens id: bokstäver, siffror och _ (börjar inte med en siffra)",
        "The process id: letters, digits and _ (not starting with a digit)"));
      return;
    }
    const drafts = await api("/drafts");
    const existing = drafts.items.find((d) => d.process_id === processId);
    if (existing) {
      text($("modeller-status"), t("Du har redan ett utkast av {id}: öppna det under Mina utkast",
        "You already have a draft of {id}: open it under My drafts", { id: processId }));
      return;
    }
    await load(newDiagramXml(processId), {});
    text($("modeller-status"), t("Ny process {id}: rita, kontrollera och driftsätt den som version 1",
      "New process {id}: draw, check and deploy it as version 1", { id: processId }));
    input.value = "";
    await saveDraft();
  }

  async function download() {
    const processId = mainProcessId() || "diagram";
    const blob = new Blob([await currentXml()], { type: "application/xml" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = processId + ".bpmn";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // --- check, deploy, diff --------------------------------------------------------------------------------------
  function showFindings(result, linted) {
    clearDecorations();
    const list = $("findings");
    list.innerHTML = "";
    const overlays = modeler.get("overlays");
    const registry = modeler.get("elementRegistry");
    const lintFindings = linted || [];
    [...result.diagnostics, ...lintFindings].forEach((d) => {
      const item = document.createElement("li");
      item.className = d.severity + (d.rule ? " lint" : "");
      if (d.rule) item.dataset.rule = d.rule;
      item.dataset.elementId = d.element_id || "";
      const element = d.element_id && registry.get(d.element_id);
      const label = element ? getBusinessObject(element).get("name") || d.element_id : d.element_id;
      text(item, severityName(d.severity) + (label ? " (" + label + ")" : "") + ": " + (d.text || d.message));
      if (element) item.addEventListener("click", () => selectElement(d.element_id));
      list.appendChild(item);
      if (element && element.type !== "label") {
        const html = document.createElement("div");
        html.className = "finding-overlay " + d.severity;
        html.dataset.elementId = d.element_id;
        html.title = d.text || d.message;
        html.textContent = severityName(d.severity);
        state.overlays.push(overlays.add(d.element_id, "finding", { position: { top: -12, left: 0 }, html }));
        mark(d.element_id, d.severity === "error" ? "finding-error" : "finding-warning");
      }
    });
    let summary = t("{errors} fel, {warnings} varningar", "{errors} errors, {warnings} warnings",
      { errors: result.errors, warnings: result.warnings }) +
      (result.executable ? t(" – kan köras", " – can run")
        : t(" – kan inte köras (kan lagras som dokumentation)", " – cannot run (can be stored as documentation)"));
    if (linted) {
      const lintErrors = lintFindings.filter((d) => d.severity === "error").length;
      summary += t(" · bpmnlint (rekommenderade regler): {errors} fel, {warnings} varningar",
        " · bpmnlint (recommended rules): {errors} errors, {warnings} warnings",
        { errors: lintErrors, warnings: lintFindings.length - lintErrors });
    }
    text($("check-summary"), summary);
    root.dataset.lintErrors = String(lintFindings.filter((d) => d.severity === "error").length);
  }

  async function check() {
    const result = await api("/definitions/check", {
      method: "POST", headers: { "Content-Type": "application/xml" }, body: await currentXml(),
    });
    let linted = [];
    try {
      linted = await lint(modeler.get("moddle"), await currentXml());
    } catch (err) {
      text($("modeller-status"), t("bpmnlint kunde inte köras: {error}", "bpmnlint could not run: {error}", { error: err.message }));
    }
    showFindings(result, linted);
    return result;
  }

  function show(value) {
    if (value === null || value === undefined || value === "") return "–";
    if (typeof value === "object") {
      return Object.entries(value).map(([k, v]) => k + "=" + v).join(", ");
    }
    return String(value);
  }

  const FIELD_NAMES = {
    name: t("namn", "name"), lane: t("körfält", "lane"), type: t("typ", "type"),
    documentation: t("beskrivning", "documentation"), timer: t("timer", "timer"), message: t("meddelande", "message"),
    attached_to: t("fäst vid", "attached to"), cancel_activity: t("avbryter", "interrupting"),
    called_element: t("anropar", "calls"), parent: t("ligger i", "inside"), process: t("process", "process"),
    source: t("från", "from"), target: t("till", "to"), condition: t("villkor", "condition"),
    default: t("standardflöde", "default flow"),
  };

  function describe(change) {
    const field = change.field.startsWith("property:") ? change.field.slice(9) : FIELD_NAMES[change.field] || change.field;
    return field + ": " + show(change.before) + " → " + show(change.after);
  }

  async function showDiff(processId, from, to) {
    const diff = await api("/definitions/" + encodeURIComponent(processId) + "/diff?from=" + from + "&to=" + to);
    clearDecorations();
    const list = $("diff");
    list.innerHTML = "";
    const add = (value, cls, id) => {
      const item = text(document.createElement("li"), value);
      item.className = cls;
      item.dataset.elementId = id;
      if (id) item.addEventListener("click", () => selectElement(id));
      list.appendChild(item);
    };
    diff.added.forEach((e) => { add(t("Tillagt: {name}", "Added: {name}", { name: e.name || e.id }), "added", e.id); mark(e.id, "diff-added"); });
    diff.removed.forEach((e) => add(t("Borttaget: {name}", "Removed: {name}", { name: e.name || e.id }), "removed", e.id));
    diff.changed.forEach((e) => {
      add(t("Ändrat: {name} ({changes})", "Changed: {name} ({changes})",
        { name: e.name || e.id, changes: e.changes.map(describe).join("; ") }), "changed", e.id);
      mark(e.id, "diff-changed");
    });
    const registry = modeler.get("elementRegistry");
    const nameOf = (id) => {
      const element = id && registry.get(id);
      return (element && getBusinessObject(element).get("name")) || id;
    };
    const flowName = (f) => (f.name ? f.name + " " : "") + "(" + nameOf(f.source) + " → " + nameOf(f.target) + ")";
    diff.flows_added.forEach((f) => {
      add(t("Nytt flöde: {flow}", "New flow: {flow}", { flow: flowName(f) }) +
        (f.condition ? t(" när {c}", " when {c}", { c: f.condition }) : ""), "added flow", f.id);
      mark(f.id, "diff-added");
    });
    diff.flows_removed.forEach((f) => add(t("Borttaget flöde: {flow}", "Removed flow: {flow}", { flow: flowName(f) }), "removed flow", f.id));
    diff.flows_changed.forEach((f) => {
      add(t("Ändrat flöde: {flow} ({changes})", "Changed flow: {flow} ({changes})",
        { flow: flowName(f), changes: f.changes.map(describe).join("; ") }), "changed flow", f.id);
      mark(f.id, "diff-changed");
    });
    if (!list.children.length) add(t("Inga ändringar mellan v{from} och v{to}", "No changes between v{from} and v{to}", { from, to }), "none", "");
    root.dataset.diff = from + ":" + to;
  }

  // Deploying asks first (issue 15): what is deployed, that it does not change the version new cases start on,
  // and a comment. The dialog's own button does the deploy.
  async function askDeploy() {
    const comment = $("comment").value.trim();
    if (!comment) {
      text($("deploy-result"), t("Skriv en kommentar: vad ändrades och varför?", "Write a comment: what changed and why?"));
      $("comment").focus();
      return;
    }
    const processId = mainProcessId() || "?";
    text($("deploy-confirm-text"), t(
      "Driftsätta {id} som en ny version med kommentaren \u201d{comment}\u201d? Versionen som nya fall startar på " +
        "ändras inte: gör den nya versionen till standardversion efteråt, eller pröva den i en pilot.",
      "Deploy {id} as a new version with the comment \u201c{comment}\u201d? The version new cases start on does not " +
        "change: make the new version the default afterwards, or try it in a pilot.",
      { id: processId, comment }));
    const dialog = $("deploy-confirm");
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
  }

  function closeDeployDialog() {
    const dialog = $("deploy-confirm");
    if (typeof dialog.close === "function") dialog.close(); else dialog.removeAttribute("open");
  }

  async function makeDefault() {
    const version = Number($("make-default").dataset.version);
    const processId = $("make-default").dataset.process;
    const comment = $("default-comment").value.trim();
    if (!comment) {
      text($("default-result"), t("Skriv varför versionen blir standardversion.", "Write why the version becomes the default."));
      $("default-comment").focus();
      return;
    }
    await api("/pilots/defaults", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ process_id: processId, version, comment }),
    });
    text($("default-result"), t("Nya fall i {id} startar nu på version {v} där ingen pilot eller spridning gäller.",
      "New cases of {id} now start on version {v} wherever no pilot or roll-out applies.", { id: processId, v: version }));
    root.dataset.defaultVersion = processId + ":" + version;
    $("make-default-box").hidden = true;
    await loadVersions();
  }

  function offerDefault(result) {
    const box = $("make-default-box");
    box.hidden = !(result.executable && result.default_version !== result.version);
    if (box.hidden) return;
    const button = $("make-default");
    button.dataset.version = String(result.version);
    button.dataset.process = result.process_id;
    text(button, t("Gör version {v} till standardversion", "Make version {v} the default", { v: result.version }));
    text($("default-now"), result.default_version
      ? t("Nya fall startar nu på version {v}.", "New cases now start on version {v}.", { v: result.default_version })
      : t("Processen har ingen standardversion än.", "The process has no default version yet."));
  }

  async function deploy() {
    closeDeployDialog();
    const params = new URLSearchParams({ comment: $("comment").value.trim() });
    if (state.filename) params.set("filename", state.filename);
    if ($("documentation-only").checked) params.set("documentation_only", "true");
    if (state.draftId) params.set("draft", String(state.draftId));
    if (state.saveTimer) { clearTimeout(state.saveTimer); state.saveTimer = null; }
    if (state.saving) await state.saving; // an autosave still on its way must not land after the deploy
    try {
      const result = await api("/definitions?" + params.toString(), {
        method: "POST", headers: { "Content-Type": "application/xml" }, body: await currentXml(),
      });
      const previous = state.baseVersion;
      let message = result.created ? t("Driftsatt som version {v}", "Deployed as version {v}", { v: result.version })
        : t("Oförändrat: samma innehåll som version {v}", "Unchanged: the same content as version {v}",
          { v: result.version });
      if (!result.executable) message += t(" (dokumentationsmodell, kan inte köras)", " (documentation model, cannot run)");
      else if (result.default_version && result.default_version !== result.version) {
        message += t(". Nya fall startar fortfarande på version {v}", ". New cases still start on version {v}",
          { v: result.default_version });
      }
      text($("deploy-result"), message);
      offerDefault(result);
      root.dataset.deployed = result.process_id + ":" + result.version;
      state.draftId = null;
      state.dirty = false;
      state.baseVersion = result.version;
      state.processId = result.process_id;
      delete root.dataset.draft;
      text($("draft-status"), t("Utkastet är kastat: diagrammet är driftsatt", "The draft is discarded: the diagram is deployed"));
      await listDrafts();
      await selectProcess(result.process_id, result.version);
      if (result.created && previous && result.process_id === $("process-id").value) {
        $("diff-from").value = String(previous);
        $("diff-to").value = String(result.version);
        await showDiff(result.process_id, previous, result.version);
      }
      describeOpened();
    } catch (err) {
      text($("deploy-result"), t("Inte driftsatt: {error}", "Not deployed: {error}", { error: err.message }));
      if (err.body && err.body.details && err.body.details.diagnostics) {
        const diagnostics = err.body.details.diagnostics;
        showFindings({
          diagnostics,
          errors: diagnostics.filter((d) => d.severity === "error").length,
          warnings: diagnostics.filter((d) => d.severity === "warning").length,
          executable: false,
        });
      }
    }
  }

  function report(fn) {
    return async (event) => {
      if (event) event.preventDefault();
      try {
        await fn(event);
      } catch (err) {
        text($("modeller-status"), err.message);
      }
    };
  }

  // --- wiring -----------------------------------------------------------------------------------------------------
  modeler.on("commandStack.changed", (event) => {
    if (!state.importing && event.trigger !== "clear") scheduleSave();
  });
  window.addEventListener("pagehide", flushOnLeave);
  window.addEventListener("beforeunload", (event) => {
    if (!state.dirty) return;
    flushOnLeave(); // sent with keepalive; the browser also asks before leaving with changes not yet saved
    event.preventDefault();
    event.returnValue = "";
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flushOnLeave();
  });
  // Choosing a process opens its newest version directly (issue 15), as a file opens in Camunda Modeler.
  $("process-id").addEventListener("change", report(async () => {
    await loadVersions();
    if (state.dirty) await saveDraft();
    if ($("version").value) await openVersion($("process-id").value, $("version").value);
  }));
  $("open-form").addEventListener("submit", report(async () => {
    if (!$("version").value) await loadVersions();
    if (state.dirty) await saveDraft();
    await openVersion($("process-id").value, $("version").value);
  }));
  $("upload").addEventListener("change", report(async (event) => {
    await upload(event.target.files[0]);
    event.target.value = "";
  }));
  const canvas = $("canvas");
  canvas.addEventListener("dragover", (event) => {
    event.preventDefault();
    canvas.classList.add("dropping");
  });
  canvas.addEventListener("dragleave", () => canvas.classList.remove("dropping"));
  canvas.addEventListener("drop", report(async (event) => {
    canvas.classList.remove("dropping");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    await upload(file);
  }));
  $("check").addEventListener("click", report(check));
  $("deploy").addEventListener("click", report(askDeploy));
  $("deploy-confirm-yes").addEventListener("click", report(deploy));
  $("deploy-confirm-no").addEventListener("click", (event) => { event.preventDefault(); closeDeployDialog(); });
  $("make-default").addEventListener("click", report(makeDefault));
  $("save-draft").addEventListener("click", report(saveDraft));
  $("download").addEventListener("click", report(download));
  $("new-form").addEventListener("submit", report(newProcess));
  $("compare").addEventListener("click", report(() => showDiff($("process-id").value, $("diff-from").value, $("diff-to").value)));

  await listDrafts();
  await loadProcesses();
  const wanted = root.dataset.process;
  if (root.dataset.openDraft) {
    await openDraft(Number(root.dataset.openDraft));
  } else if (wanted) {
    await selectProcess(wanted, root.dataset.version || null);
    if ($("version").value) await openVersion(wanted, $("version").value);
  } else if ($("process-id").value) {
    // The newest version of the first process opens at once (issue 15): no empty canvas to start from.
    await loadVersions();
    if ($("version").value) await openVersion($("process-id").value, $("version").value);
  }
}

main()
  .then(() => { document.getElementById("modeller").dataset.ready = "true"; })
  .catch((err) => {
    const status = document.getElementById("modeller-status");
    if (status) status.textContent = t("Modelleraren kunde inte starta: {error}", "The modeller could not start: {error}",
      { error: err.message });
    throw err;
  });
