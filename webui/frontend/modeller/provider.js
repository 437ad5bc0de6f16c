// Samflöde's own group in the properties panel: exactly the extension properties engine/bpmn/parsing.py reads
// (<samflode:properties><samflode:property name=".." value=".."/></samflode:properties> on a flow node), the lane ->
// role mapping of processes/lanes.json, agreed deadlines for timers, and the arbetsbeskrivning fields.
import { CheckboxEntry, SelectEntry, TextAreaEntry, TextFieldEntry, isCheckboxEntryEdited, isSelectEntryEdited,
  isTextAreaEntryEdited, isTextFieldEntryEdited, Group } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

import { t } from "./messages.js";

export const DOC_FIELDS = [
  ["mal", t("Mål", "Goal")],
  ["syfte", t("Syfte", "Purpose")],
  ["utforare", t("Utförare", "Performed by")],
  ["tidpunkt", t("Tidpunkt", "When")],
  ["lagrum", t("Lagrum", "Legal basis")],
];
export const CALENDAR_KINDS = {
  hours: t("timmar (klocktid)", "hours (clock time)"),
  calendar: t("kalenderdagar", "calendar days"),
  working_days: t("vardagar", "working days"),
};
const CUSTOM = "__custom__";
const DEADLINE_CALL = /^\s*deadline\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)\s*$/;

export function calendarText(rule) {
  const kind = CALENDAR_KINDS[rule.calendar] || rule.calendar;
  const from = rule.anchor_title ? t(" från {event}", " from {event}", { event: rule.anchor_title }) : "";
  if (rule.before) {
    return rule.duration + " " + kind + from + t(", senast kl. {time} den dagen", ", by {time} that day", { time: rule.before });
  }
  return rule.duration + " " + kind + from;
}

export function deadlineDescription(catalog, key) {
  const entry = (catalog.deadlines || []).find((d) => d.key === key);
  if (!entry) return t("Tidsfristen finns inte i agreements.json", "The deadline is not in agreements.json");
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
    element, id, label: t("Formulär", "Form"),
    description: known ? t("Formulären i processes/forms/", "The forms in processes/forms/")
      : t("Formuläret {name} finns inte: välj ett som finns", "The form {name} does not exist: choose one that does",
        { name: current }),
    getValue: () => current,
    setValue: (value) => setProperty(element, "form", value, bpmnFactory, commandStack),
    getOptions: () => [{ value: "", label: t("(inget formulär)", "(no form)") }]
      .concat(known ? [] : [{ value: current, label: current + t(" (finns inte)", " (does not exist)") }])
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
  if (!lane) description = t("Uppgiften ligger inte i något körfält: välj en roll", "The task is in no lane: choose a role");
  else if (!roles) description = t("Körfältet {lane} finns inte i lanes.json", "The lane {lane} is not in lanes.json", { lane });
  else {
    description = t("Körfältet {lane} ger rollerna: {roles}", "The lane {lane} gives the roles: {roles}",
      { lane, roles: roles.map((r) => roleName(catalog, r)).join(", ") });
  }
  const all = (catalog.roles || []).map((r) => r.key);
  return SelectEntry({
    element, id, label: t("Roll (i stället för körfältets)", "Role (instead of the lane's)"), description,
    getValue: () => current,
    setValue: (value) => setProperty(element, "role", value, bpmnFactory, commandStack),
    getOptions: () => [{ value: "", label: t("(körfältets roller)", "(the lane's roles)") }]
      .concat(current && !all.includes(current) ? [{ value: current, label: current + t(" (okänd)", " (unknown)") }] : [])
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
  let description = t(
    "En tidsfrist ur överenskommelsen räknas från sin händelse (t.ex. utskrivningen); syns i arbetslistan",
    "A deadline from the agreement counts from its event (e.g. the discharge); shown in the worklist");
  if (isKey) description = deadlineDescription(catalog, current);
  else if (current) description = t("Egen varaktighet, räknas i timmar (klocktid)", "Own duration, counted in hours (clock time)");
  return SelectEntry({
    element, id, label: t("Tidsfrist", "Deadline"),
    description,
    getValue: () => (isKey ? current : current ? CUSTOM : ""),
    setValue: (value) => {
      if (value === CUSTOM) setProperty(element, "due", isKey || !current ? "PT24H" : current, bpmnFactory, commandStack);
      else setProperty(element, "due", value, bpmnFactory, commandStack);
    },
    getOptions: () => [{ value: "", label: t("(ingen tidsfrist)", "(no deadline)") }]
      .concat(keys.map((k) => ({ value: k, label: k + " – " + deadlineDescription(catalog, k) })))
      .concat([{ value: CUSTOM, label: t("Egen varaktighet (ISO 8601)", "Own duration (ISO 8601)") }]),
  });
}

function DueCustom(props) {
  const { element, id } = props;
  const bpmnFactory = useService("bpmnFactory");
  const commandStack = useService("commandStack");
  const debounce = useService("debounceInput");
  return TextFieldEntry({
    element, id, debounce, label: t("Egen varaktighet", "Own duration"),
    description: t("ISO 8601, t.ex. PT24H (24 timmar) eller P3D (3 dygn)", "ISO 8601, e.g. PT24H (24 hours) or P3D (3 days)"),
    getValue: () => getProperty(getBusinessObject(element), "due"),
    setValue: (value) => setProperty(element, "due", value, bpmnFactory, commandStack),
    validate: (value) => (value && !/^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/i.test(value.trim())
      ? t("Ingen ISO 8601-varaktighet (t.ex. PT24H, P3D)", "Not an ISO 8601 duration (e.g. PT24H, P3D)") : null),
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
    element, id, label: t("Avtalad tidsfrist", "Agreed deadline"),
    description: current ? deadlineDescription(catalog, current)
      : t("Välj en tidsfrist ur avtalen, eller skriv ISO 8601 (PT24H, P3D, R/PT12H, 2026-03-01T12:00) eller ett uttryck " +
        "under Timer", "Choose a deadline from the agreements, or write ISO 8601 (PT24H, P3D, R/PT12H, " +
        "2026-03-01T12:00) or an expression under Timer"),
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
    getOptions: () => [{ value: "", label: t("(eget uttryck)", "(own expression)") }]
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
    element, id, debounce, rows: 2, autoResize: true, label: t("Villkor", "Condition"),
    disabled: isDefault,
    description: isDefault
      ? t("Standardflödet tas när inget annat villkor gäller och har inget eget villkor",
        "The default flow is taken when no other condition holds, and has no condition of its own")
      : t("Python-uttryck över ärendets data, t.ex. behov == 'hemtjänst' eller len(insatser) > 0",
        "A Python expression over the case's data, e.g. behov == 'hemtjänst' or len(insatser) > 0"),
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
    element, id, label: t("Standardflöde", "Default flow"),
    description: t("Tas när inget villkor på de andra flödena gäller (varje delande grind behöver ett)",
      "Taken when no condition on the other flows holds (every splitting gateway needs one)"),
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
    element, id, label: t("Roller enligt lanes.json", "Roles from lanes.json"), disabled: true, debounce: (fn) => fn,
    description: roles
      ? t("Uppgifterna i körfältet hamnar hos dessa roller; körfältets namn är nyckeln i lanes.json",
        "The lane's tasks go to these roles; the lane's name is the key in lanes.json")
      : t("Namnet finns inte i lanes.json (kända körfält: {lanes})", "The name is not in lanes.json (known lanes: {lanes})",
        { lanes: (catalog.lanes || []).map((l) => l.name).join(", ") }),
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
      entries.push({ id: "samflode-avvikelse", component: PropertyText, name: "avvikelse", label: t("Avvikelse när timern löper ut", "Deviation when the timer runs out"),
        description: t("Orsak som registreras som avvikelse i samverkan (med körfältets part)",
          "The reason recorded as a deviation in the collaboration (with the lane's party)"), isEdited: isTextFieldEntryEdited });
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
      if (own.length) result.push({ id: "samflode", label: t("Samflöde", "Samflöde"), entries: own, component: Group });
      if (docs.length) result.push({ id: "samflode-doc", label: t("Arbetsbeskrivning", "Work description"), entries: docs, component: Group });
      // Ours first, then bpmn-js' own groups (allmänt, dokumentation, timer, meddelande, ...).
      return result.concat(groups);
    };
  }
}
SamflodePropertiesProvider.$inject = ["propertiesPanel", "injector"];
