// Samflöde's own group in the properties panel: exactly the extension properties engine/bpmn/parsing.py reads
// (<samflode:properties><samflode:property name=".." value=".."/></samflode:properties> on a flow node), the lane ->
// role mapping of processes/lanes.json, agreed deadlines for timers, and the arbetsbeskrivning fields.
import { CheckboxEntry, SelectEntry, TextAreaEntry, TextFieldEntry, isCheckboxEntryEdited, isSelectEntryEdited,
  isTextAreaEntryEdited, isTextFieldEntryEdited, Group } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

export const DOC_FIELDS = [
  ["mal", "Mål"],
  ["syfte", "Syfte"],
  ["utforare", "Utförare"],
  ["tidpunkt", "Tidpunkt"],
  ["lagrum", "Lagrum"],
];
export const CALENDAR_KINDS = {
  hours: "timmar (klocktid)",
  calendar: "kalenderdagar",
  working_days: "vardagar",
};
const CUSTOM = "__custom__";
const DEADLINE_CALL = /^\s*deadline\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)\s*$/;

export function calendarText(rule) {
  const kind = CALENDAR_KINDS[rule.calendar] || rule.calendar;
  const from = rule.anchor_title ? " från " + rule.anchor_title : "";
  if (rule.before) return rule.duration + " " + kind + from + ", senast kl. " + rule.before + " den dagen";
  return rule.duration + " " + kind + from;
}

export function deadlineDescription(catalog, key) {
  const entry = (catalog.deadlines || []).find((d) => d.key === key);
  if (!entry) return "Tidsfristen finns inte i agreements.json";
  return entry.rules.map((r) => r.agreement + ": " + calendarText(r)).join(" · ");
}

// --- reading and writing samflode:property --------------------------------------------------------------------
function propertiesElement(bo) {
  const ext = bo.get("extensionElements");
  return ext ? (ext.get("values") || []).find((v) => is(v, "samflode:Properties")) : undefined;
}

export function getProperty(bo, name) {
  const container = propertiesElement(bo);
  const item = container && (container.get("values") || []).find((p) => p.get("name") === name);
  if (!item) return "";
  const value = item.get("value");
  return value !== undefined && value !== null ? value : item.get("body") || "";
}

function setProperty(element, name, value, bpmnFactory, commandStack) {
  const bo = getBusinessObject(element);
  const text = (value || "").trim();
  const commands = [];
  let ext = bo.get("extensionElements");
  let container = propertiesElement(bo);
  const item = container && (container.get("values") || []).find((p) => p.get("name") === name);
  if (!text) {
    if (!item) return;
    const remaining = container.get("values").filter((p) => p !== item);
    commands.push({ cmd: "element.updateModdleProperties",
      context: { element, moddleElement: container, properties: { values: remaining } } });
    if (!remaining.length) {
      commands.push({ cmd: "element.updateModdleProperties", context: { element, moddleElement: ext,
        properties: { values: ext.get("values").filter((v) => v !== container) } } });
    }
  } else if (item) {
    commands.push({ cmd: "element.updateModdleProperties",
      context: { element, moddleElement: item, properties: { value: text, body: undefined } } });
  } else {
    if (!ext) {
      ext = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
      commands.push({ cmd: "element.updateModdleProperties",
        context: { element, moddleElement: bo, properties: { extensionElements: ext } } });
    }
    const property = bpmnFactory.create("samflode:Property", { name, value: text });
    if (!container) {
      container = bpmnFactory.create("samflode:Properties", { values: [property] });
      container.$parent = ext;
      property.$parent = container;
      commands.push({ cmd: "element.updateModdleProperties",
        context: { element, moddleElement: ext, properties: { values: [...(ext.get("values") || []), container] } } });
    } else {
      property.$parent = container;
      commands.push({ cmd: "element.updateModdleProperties",
        context: { element, moddleElement: container, properties: { values: [...container.get("values"), property] } } });
    }
  }
  commandStack.execute("properties-panel.multi-command-executor", commands);
}

function laneOf(element, elementRegistry) {
  const bo = getBusinessObject(element);
  const lanes = elementRegistry.filter((e) => is(e, "bpmn:Lane"));
  // The innermost lane that lists the node (nested lanes list it too).
  let found = null;
  lanes.forEach((lane) => {
    const refs = getBusinessObject(lane).get("flowNodeRef") || [];
    if (refs.includes(bo)) found = lane;
  });
  return found ? getBusinessObject(found).get("name") || found.id : null;
}

function laneRoles(catalog, laneName) {
  const lane = (catalog.lanes || []).find((l) => l.name === laneName);
  return lane ? lane.roles : null;
}

function roleName(catalog, key) {
  const role = (catalog.roles || []).find((r) => r.key === key);
  return role && role.name ? key + " (" + role.name + ")" : key;
}

// --- entries ---------------------------------------------------------------------------------------------------
function PropertyText(props) {
  const { element, id, name, label, description, area } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const debounce = useService("debounceInput");
  const common = {
    element, id, label, description, debounce,
    getValue: () => getProperty(getBusinessObject(element), name),
    setValue: (value) => setProperty(element, name, value, bpmnFactory, commandStack),
  };
  return area ? TextAreaEntry({ ...common, rows: 2, autoResize: true }) : TextFieldEntry(common);
}

function FormSelect(props) {
  const { element, id, catalog } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const current = getProperty(getBusinessObject(element), "form");
  const forms = catalog.forms || [];
  const known = !current || forms.some((f) => f.name === current);
  return SelectEntry({
    element, id, label: "Formulär",
    description: known ? "Formulären i processes/forms/" : "Formuläret " + current + " finns inte: välj ett som finns",
    getValue: () => current,
    setValue: (value) => setProperty(element, "form", value, bpmnFactory, commandStack),
    getOptions: () => [{ value: "", label: "(inget formulär)" }]
      .concat(known ? [] : [{ value: current, label: current + " (finns inte)" }])
      .concat(forms.map((f) => ({ value: f.name, label: f.title ? f.name + " – " + f.title : f.name }))),
  });
}

function RoleSelect(props) {
  const { element, id, catalog } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const elementRegistry = useService("elementRegistry");
  const lane = laneOf(element, elementRegistry);
  const roles = lane ? laneRoles(catalog, lane) : null;
  const current = getProperty(getBusinessObject(element), "role");
  let description;
  if (!lane) description = "Uppgiften ligger inte i något körfält: välj en roll";
  else if (!roles) description = "Körfältet " + lane + " finns inte i lanes.json";
  else description = "Körfältet " + lane + " ger rollerna: " + roles.map((r) => roleName(catalog, r)).join(", ");
  const all = (catalog.roles || []).map((r) => r.key);
  return SelectEntry({
    element, id, label: "Roll (i stället för körfältets)", description,
    getValue: () => current,
    setValue: (value) => setProperty(element, "role", value, bpmnFactory, commandStack),
    getOptions: () => [{ value: "", label: "(körfältets roller)" }]
      .concat(current && !all.includes(current) ? [{ value: current, label: current + " (okänd)" }] : [])
      .concat(all.map((r) => ({ value: r, label: roleName(catalog, r) }))),
  });
}

function DueSelect(props) {
  const { element, id, catalog } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const current = getProperty(getBusinessObject(element), "due");
  const keys = (catalog.deadlines || []).map((d) => d.key);
  const isKey = keys.includes(current);
  let description =
    "En tidsfrist ur överenskommelsen räknas från sin händelse (t.ex. utskrivningen); syns i arbetslistan";
  if (isKey) description = deadlineDescription(catalog, current);
  else if (current) description = "Egen varaktighet, räknas i timmar (klocktid)";
  return SelectEntry({
    element, id, label: "Tidsfrist",
    description,
    getValue: () => (isKey ? current : current ? CUSTOM : ""),
    setValue: (value) => {
      if (value === CUSTOM) setProperty(element, "due", isKey || !current ? "PT24H" : current, bpmnFactory, commandStack);
      else setProperty(element, "due", value, bpmnFactory, commandStack);
    },
    getOptions: () => [{ value: "", label: "(ingen tidsfrist)" }]
      .concat(keys.map((k) => ({ value: k, label: k + " – " + deadlineDescription(catalog, k) })))
      .concat([{ value: CUSTOM, label: "Egen varaktighet (ISO 8601)" }]),
  });
}

function DueCustom(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const debounce = useService("debounceInput");
  return TextFieldEntry({
    element, id, debounce, label: "Egen varaktighet",
    description: "ISO 8601, t.ex. PT24H (24 timmar) eller P3D (3 dygn)",
    getValue: () => getProperty(getBusinessObject(element), "due"),
    setValue: (value) => setProperty(element, "due", value, bpmnFactory, commandStack),
    validate: (value) => (value && !/^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/i.test(value.trim())
      ? "Ingen ISO 8601-varaktighet (t.ex. PT24H, P3D)" : null),
  });
}

function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.get("eventDefinitions") || []).find((d) => is(d, "bpmn:TimerEventDefinition"));
}

function TimerDeadline(props) {
  const { element, id, catalog } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const definition = timerDefinition(element);
  const duration = definition && definition.get("timeDuration");
  const match = duration && DEADLINE_CALL.exec(duration.get("body") || "");
  const current = match ? match[1] : "";
  const keys = (catalog.deadlines || []).map((d) => d.key);
  return SelectEntry({
    element, id, label: "Avtalad tidsfrist",
    description: current ? deadlineDescription(catalog, current)
      : "Välj en tidsfrist ur avtalen, eller skriv ISO 8601 (PT24H, P3D, R/PT12H, 2026-03-01T12:00) eller ett uttryck under Timer",
    getValue: () => current,
    setValue: (value) => {
      if (!value) return;
      const expression = bpmnFactory.create("bpmn:FormalExpression", { body: "deadline('" + value + "')" });
      expression.$parent = definition;
      commandStack.execute("element.updateModdleProperties", {
        element, moddleElement: definition,
        properties: { timeDuration: expression, timeDate: undefined, timeCycle: undefined },
      });
    },
    getOptions: () => [{ value: "", label: "(eget uttryck)" }]
      .concat(keys.map((k) => ({ value: k, label: k + " – " + deadlineDescription(catalog, k) }))),
  });
}

// A sequence flow's condition (a sandboxed Python expression over the case data) and whether it is its source's
// default flow: what the engine evaluates at gateways and at implicit splits out of tasks (docs/modelling.md).
function FlowCondition(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  const bo = getBusinessObject(element);
  const isDefault = bo.sourceRef && bo.sourceRef.get("default") === bo;
  return TextAreaEntry({
    element, id, debounce, rows: 2, autoResize: true, label: "Villkor",
    disabled: isDefault,
    description: isDefault ? "Standardflödet tas när inget annat villkor gäller och har inget eget villkor"
      : "Python-uttryck över ärendets data, t.ex. behov == 'hemtjänst' eller len(insatser) > 0",
    getValue: () => {
      const expression = bo.get("conditionExpression");
      return expression ? expression.get("body") || "" : "";
    },
    setValue: (value) => {
      const body = (value || "").trim();
      let expression;
      if (body) {
        expression = bpmnFactory.create("bpmn:FormalExpression", { body });
        expression.$parent = bo;
      }
      modeling.updateProperties(element, { conditionExpression: expression });
    },
  });
}

function FlowDefault(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const elementRegistry = useService("elementRegistry");
  const bo = getBusinessObject(element);
  const source = bo.sourceRef;
  return CheckboxEntry({
    element, id, label: "Standardflöde",
    description: "Tas när inget villkor på de andra flödena gäller (varje delande grind behöver ett)",
    getValue: () => Boolean(source && source.get("default") === bo),
    setValue: (checked) => {
      const sourceShape = source && elementRegistry.get(source.get("id"));
      if (!sourceShape) return;
      if (checked && bo.get("conditionExpression")) modeling.updateProperties(element, { conditionExpression: undefined });
      modeling.updateProperties(sourceShape, { default: checked ? bo : undefined });
    },
  });
}

function LaneRoles(props) {
  const { element, id, catalog } = props;
  const name = getBusinessObject(element).get("name") || "";
  const roles = laneRoles(catalog, name);
  return TextFieldEntry({
    element, id, label: "Roller enligt lanes.json", disabled: true, debounce: (fn) => fn,
    description: roles ? "Uppgifterna i körfältet hamnar hos dessa roller; körfältets namn är nyckeln i lanes.json"
      : "Namnet finns inte i lanes.json (kända körfält: " + (catalog.lanes || []).map((l) => l.name).join(", ") + ")",
    getValue: () => (roles ? roles.map((r) => roleName(catalog, r)).join(", ") : "–"),
    setValue: () => {},
  });
}

export function samflodeEntries(element, catalog) {
  const entries = [];
  const bo = getBusinessObject(element);
  const human = is(element, "bpmn:UserTask") || is(element, "bpmn:ManualTask");
  if (is(element, "bpmn:SequenceFlow") && bo.sourceRef) {
    const source = bo.sourceRef;
    const splits = is(source, "bpmn:ExclusiveGateway") || is(source, "bpmn:InclusiveGateway") ||
      is(source, "bpmn:ComplexGateway") || is(source, "bpmn:Activity");
    if (splits) {
      entries.push({ id: "samflode-condition", component: FlowCondition, isEdited: isTextAreaEntryEdited });
      entries.push({ id: "samflode-default-flow", component: FlowDefault, isEdited: isCheckboxEntryEdited });
    }
  }
  if (is(element, "bpmn:Lane")) {
    entries.push({ id: "samflode-lane-roles", component: LaneRoles, catalog, isEdited: () => false });
  }
  if (human) {
    entries.push({ id: "samflode-form", component: FormSelect, catalog, isEdited: isSelectEntryEdited });
    entries.push({ id: "samflode-role", component: RoleSelect, catalog, isEdited: isSelectEntryEdited });
    entries.push({ id: "samflode-due", component: DueSelect, catalog, isEdited: isSelectEntryEdited });
    const due = getProperty(bo, "due");
    if (due && !(catalog.deadlines || []).some((d) => d.key === due)) {
      entries.push({ id: "samflode-due-custom", component: DueCustom, isEdited: isTextFieldEntryEdited });
    }
  } else if (is(element, "bpmn:Activity") && getProperty(bo, "role")) {
    entries.push({ id: "samflode-role", component: RoleSelect, catalog, isEdited: isSelectEntryEdited });
  }
  if (is(element, "bpmn:Event") && timerDefinition(element)) {
    entries.push({ id: "samflode-timer-deadline", component: TimerDeadline, catalog, isEdited: isSelectEntryEdited });
    if (is(element, "bpmn:BoundaryEvent")) {
      entries.push({ id: "samflode-avvikelse", component: PropertyText, name: "avvikelse", label: "Avvikelse när timern löper ut",
        description: "Orsak som registreras som avvikelse i samverkan (med körfältets part)", isEdited: isTextFieldEntryEdited });
    }
  }
  return entries;
}

export function documentationEntries(element) {
  if (!is(element, "bpmn:Activity")) return [];
  return DOC_FIELDS.map(([name, label]) => ({
    id: "samflode-doc-" + name, component: PropertyText, name, label, area: true, isEdited: isTextAreaEntryEdited,
  }));
}

export default class SamflodePropertiesProvider {
  constructor(propertiesPanel, injector) {
    this._config = injector.get("config.samflode", false) || {};
    propertiesPanel.registerProvider(500, this);
  }

  getGroups(element) {
    return (groups) => {
      const catalog = this._config.catalog || {};
      const own = samflodeEntries(element, catalog);
      const docs = documentationEntries(element);
      const result = [];
      if (own.length) result.push({ id: "samflode", label: "Samflöde", entries: own, component: Group });
      if (docs.length) result.push({ id: "samflode-doc", label: "Arbetsbeskrivning", entries: docs, component: Group });
      // Ours first, then bpmn-js' own groups (allmänt, dokumentation, timer, meddelande, ...).
      return result.concat(groups);
    };
  }
}
SamflodePropertiesProvider.$inject = ["propertiesPanel", "injector"];
