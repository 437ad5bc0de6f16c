// Swedish labels for bpmn-js and its properties panel (the words a process owner meets); other texts stay as
// bpmn-js writes them. A translate service as diagram-js expects it: template + {placeholders}.
const SV = {
  General: "Allmänt",
  Name: "Namn",
  ID: "Id",
  Documentation: "Dokumentation",
  "Element documentation": "Beskrivning (fritext för personalen)",
  "Process documentation": "Processens beskrivning",
  Executable: "Körbar",
  Process: "Process",
  "Process name": "Processens namn",
  "Process ID": "Processens id",
  Timer: "Timer",
  Type: "Typ",
  Value: "Värde",
  Date: "Datum",
  Duration: "Varaktighet",
  Cycle: "Cykel",
  "<none>": "<ingen>",
  Message: "Meddelande",
  "Global message reference": "Meddelande",
  "Create new ...": "Skapa nytt …",
  Signal: "Signal",
  Error: "Fel",
  Escalation: "Eskalering",
  "Multi-instance": "Flerinstans",
  Condition: "Villkor",
  "Condition expression": "Villkorsuttryck",
  "Must be unique.": "Måste vara unikt.",
  "ID must not contain spaces.": "Id får inte innehålla mellanslag.",
  "ID must be a valid QName.": "Id måste vara ett giltigt QName.",
  "Select an element to edit its properties.": "Välj ett element för att ändra dess egenskaper.",
  "Multiple elements are selected. Select a single one to edit its properties.":
    "Flera element är valda. Välj ett för att ändra dess egenskaper.",
};

function translate(template, replacements) {
  const text = SV[template] || template;
  return text.replace(/{([^}]+)}/g, (_, key) => (replacements && key in replacements ? replacements[key] : "{" + key + "}"));
}

export default { translate: ["value", translate] };
