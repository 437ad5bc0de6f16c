// bpmnlint (from npm, bundled by esbuild) with its recommended rules, run on the diagram in the browser as Camunda
// Modeler does (issue 15). The server's check (engine/bpmn/parsing.py) covers the rules that matter for running;
// these add the modelling conventions. Messages are the rule's meaning in the page's language, with bpmnlint's own
// text after it.
import { Linter } from "bpmnlint";
import StaticResolver from "bpmnlint/lib/resolver/static-resolver";
import recommended from "bpmnlint/config/recommended";
import adHocSubProcess from "bpmnlint/rules/ad-hoc-sub-process";
import conditionalFlows from "bpmnlint/rules/conditional-flows";
import endEventRequired from "bpmnlint/rules/end-event-required";
import eventBasedGateway from "bpmnlint/rules/event-based-gateway";
import eventSubProcessTypedStartEvent from "bpmnlint/rules/event-sub-process-typed-start-event";
import fakeJoin from "bpmnlint/rules/fake-join";
import global from "bpmnlint/rules/global";
import labelRequired from "bpmnlint/rules/label-required";
import linkEvent from "bpmnlint/rules/link-event";
import noBpmndi from "bpmnlint/rules/no-bpmndi";
import noComplexGateway from "bpmnlint/rules/no-complex-gateway";
import noDisconnected from "bpmnlint/rules/no-disconnected";
import noDuplicateSequenceFlows from "bpmnlint/rules/no-duplicate-sequence-flows";
import noGatewayJoinFork from "bpmnlint/rules/no-gateway-join-fork";
import noImplicitSplit from "bpmnlint/rules/no-implicit-split";
import noImplicitEnd from "bpmnlint/rules/no-implicit-end";
import noImplicitStart from "bpmnlint/rules/no-implicit-start";
import noInclusiveGateway from "bpmnlint/rules/no-inclusive-gateway";
import noOverlappingElements from "bpmnlint/rules/no-overlapping-elements";
import singleBlankStartEvent from "bpmnlint/rules/single-blank-start-event";
import singleEventDefinition from "bpmnlint/rules/single-event-definition";
import startEventRequired from "bpmnlint/rules/start-event-required";
import subProcessBlankStartEvent from "bpmnlint/rules/sub-process-blank-start-event";
import superfluousGateway from "bpmnlint/rules/superfluous-gateway";
import superfluousLabel from "bpmnlint/rules/superfluous-label";
import superfluousTermination from "bpmnlint/rules/superfluous-termination";

import { t } from "./messages.js";

const RULES = {
  "ad-hoc-sub-process": adHocSubProcess,
  "conditional-flows": conditionalFlows,
  "end-event-required": endEventRequired,
  "event-based-gateway": eventBasedGateway,
  "event-sub-process-typed-start-event": eventSubProcessTypedStartEvent,
  "fake-join": fakeJoin,
  global,
  "label-required": labelRequired,
  "link-event": linkEvent,
  "no-bpmndi": noBpmndi,
  "no-complex-gateway": noComplexGateway,
  "no-disconnected": noDisconnected,
  "no-duplicate-sequence-flows": noDuplicateSequenceFlows,
  "no-gateway-join-fork": noGatewayJoinFork,
  "no-implicit-split": noImplicitSplit,
  "no-implicit-end": noImplicitEnd,
  "no-implicit-start": noImplicitStart,
  "no-inclusive-gateway": noInclusiveGateway,
  "no-overlapping-elements": noOverlappingElements,
  "single-blank-start-event": singleBlankStartEvent,
  "single-event-definition": singleEventDefinition,
  "start-event-required": startEventRequired,
  "sub-process-blank-start-event": subProcessBlankStartEvent,
  "superfluous-gateway": superfluousGateway,
  "superfluous-label": superfluousLabel,
  "superfluous-termination": superfluousTermination,
};

// What each rule means, in the page's language; bpmnlint's own (English) message follows in parentheses.
export const RULE_TEXT = {
  "ad-hoc-sub-process": t("Ad hoc-underprocessen är felaktigt ritad", "The ad hoc sub-process is drawn wrongly"),
  "conditional-flows": t("Flödet ut ur grinden saknar villkor", "A flow out of the gateway has no condition"),
  "end-event-required": t("Processen saknar sluthändelse", "The process has no end event"),
  "event-based-gateway": t("Den händelsebaserade grinden är felaktigt ritad", "The event-based gateway is drawn wrongly"),
  "event-sub-process-typed-start-event": t("Händelseunderprocessens start måste ha en typ", "The event sub-process's start must have a type"),
  "fake-join": t("Flera flöden in i en aktivitet: rita en förenande grind", "Several flows into one activity: draw a joining gateway"),
  global: t("Globalt element används inte", "A global element is not used"),
  "label-required": t("Elementet saknar namn", "The element has no name"),
  "link-event": t("Länkhändelserna passar inte ihop", "The link events do not match"),
  "no-bpmndi": t("Elementet saknar ritning (BPMN DI)", "The element has no drawing (BPMN DI)"),
  "no-complex-gateway": t("Komplex grind stöds inte", "Complex gateways are not supported"),
  "no-disconnected": t("Elementet är inte kopplat till något flöde", "The element is not connected to any flow"),
  "no-duplicate-sequence-flows": t("Två flöden mellan samma element", "Two flows between the same elements"),
  "no-gateway-join-fork": t("Grinden både förenar och delar", "The gateway both joins and splits"),
  "no-implicit-split": t("Flödet delas utan grind", "The flow splits without a gateway"),
  "no-implicit-end": t("Elementet leder ingenstans (implicit slut)", "The element leads nowhere (implicit end)"),
  "no-implicit-start": t("Elementet har inget flöde in (implicit start)", "The element has no flow in (implicit start)"),
  "no-inclusive-gateway": t("Inkluderande grind", "Inclusive gateway"),
  "no-overlapping-elements": t("Element ligger över varandra", "Elements lie on top of each other"),
  "single-blank-start-event": t("Mer än en tom starthändelse", "More than one blank start event"),
  "single-event-definition": t("Händelsen har mer än en definition", "The event has more than one definition"),
  "start-event-required": t("Processen saknar starthändelse", "The process has no start event"),
  "sub-process-blank-start-event": t("Underprocessens start ska vara tom", "The sub-process's start must be blank"),
  "superfluous-gateway": t("Överflödig grind", "Superfluous gateway"),
  "superfluous-label": t("Överflödig etikett", "Superfluous label"),
  "superfluous-termination": t("Överflödig avslutande händelse", "Superfluous terminate event"),
};

const cache = { "config:bpmnlint/recommended": recommended };
Object.entries(RULES).forEach(([name, rule]) => { cache["rule:bpmnlint/" + name] = rule; });

const linter = new Linter({ config: { extends: "bpmnlint:recommended" }, resolver: new StaticResolver(cache) });

// Files from other tools (and ours) often leave out <bpmn:incoming>/<bpmn:outgoing>, which the flows' sourceRef and
// targetRef already say; bpmnlint reads only the former, so a copy gets them from the flows before it is linted.
function linkFlows(container) {
  const elements = container.flowElements || [];
  elements.forEach((element) => {
    if (element.$instanceOf && element.$instanceOf("bpmn:FlowNode")) {
      element.set("incoming", []);
      element.set("outgoing", []);
    }
  });
  elements.forEach((flow) => {
    if (!flow.$instanceOf || !flow.$instanceOf("bpmn:SequenceFlow")) return;
    if (flow.sourceRef && flow.sourceRef.get) flow.sourceRef.get("outgoing").push(flow);
    if (flow.targetRef && flow.targetRef.get) flow.targetRef.get("incoming").push(flow);
  });
  elements.forEach((element) => { if (element.flowElements) linkFlows(element); });
}

// The diagram's XML (read again by `moddle`, so the modeller's own model is not touched) -> findings like the
// server's: element_id, severity, message, rule; "warn" is a warning, everything else an error.
export async function lint(moddle, xml) {
  const { rootElement: definitions } = await moddle.fromXML(xml, "bpmn:Definitions");
  (definitions.rootElements || []).forEach((root) => { if (root.flowElements) linkFlows(root); });
  const results = await linter.lint(definitions);
  const findings = [];
  Object.entries(results).forEach(([rule, reports]) => {
    reports.forEach((report) => {
      const severity = report.category === "warn" ? "warning" : "error";
      const meaning = RULE_TEXT[rule] || rule;
      findings.push({ element_id: report.id || null, severity, rule, message: meaning + " (bpmnlint " + rule + ": " + report.message + ")" });
    });
  });
  return findings;
}
